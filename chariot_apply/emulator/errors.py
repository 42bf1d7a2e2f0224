"""The emulator's one error: an HTTP status and the ``{"error": ...}`` message the app sends back."""

from __future__ import annotations

from chariot_apply.chariot import rest_api as rest


class EmulatorError(Exception):
    def __init__(self, status: int, message: str, errors: list[rest.ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
