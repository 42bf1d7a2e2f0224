"""The one base class of errors a user must act on.

Every layer raises its own subclass (the Chariot client, manifests, GitHub, the workflow); the CLI and the
Action catch exactly ``UserError`` at their single exit path and show its message and hint. Anything else
that escapes is a bug in chariot-apply, and is shown as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UserError(Exception):
    """What went wrong (``message``), what to do about it (``hint``), and any lines that say where (``details``)."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if hint is not None:
            self.hint = hint


def plain_message(error: Mapping[str, Any]) -> str:
    """One pydantic error in the user's words: our own validators' text as written, without pydantic's
    "Value error, " / "Assertion failed, " prefixes."""
    raised = (error.get("ctx") or {}).get("error")
    if error.get("type") in ("value_error", "assertion_error") and raised is not None:
        return str(raised)
    return str(error.get("msg", "invalid value"))


def describe_validation(exc: Any) -> str:
    """Every error of a pydantic ``ValidationError``, each at its field path, in the user's words."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {plain_message(e)}" for e in exc.errors())
