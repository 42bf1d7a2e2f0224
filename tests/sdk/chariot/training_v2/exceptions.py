"""The SDK's exceptions: the two the reference defines, with its constructors, and those it names without
defining (choices written down in docs/sdk.md)."""

from __future__ import annotations

from typing import Any


class OpenApiException(Exception):
    """The base of the generated API client's errors (named by the reference as ``ApiException``'s base)."""


class ApiException(OpenApiException):
    def __init__(self, status=None, reason=None, http_resp=None, *, body: str | None = None, data: Any | None = None):
        super().__init__(f"({status}) Reason: {reason}")
        self.status, self.reason, self.http_resp, self.body, self.data = status, reason, http_resp, body, data


#: The reference's "Raises" sections spell it so.
APIException = ApiException


class BlueprintDoesNotExistError(Exception):
    def __init__(self, id: str | None = None, name: str | None = None, version_ilike: str | None = None):
        super().__init__(f"blueprint id={id} name={name} version_ilike={version_ilike} does not exist")
        self.id, self.name, self.version_ilike = id, name, version_ilike


class RunDoesNotExistError(Exception):
    def __init__(self, id: str | None = None):
        super().__init__(f"run {id} does not exist")
        self.id = id


class ValidationError(ApiException):
    """A config or request the service refused (HTTP 422); ``body`` is the service's JSON answer."""
