"""The one base class of errors a user must act on.

Every layer raises its own subclass (the Chariot client, manifests, GitHub, the workflow); the CLI and the
Action catch exactly ``UserError`` at their single exit path and show its message and hint. Anything else
that escapes is a bug in chariot-apply, and is shown as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UserError(Exception):
    """What went wrong (``message``), what to do about it (``hint``), any lines that say where (``details``), and
    its stable code (``diagnostics.codes``: ``chariot-apply explain CODE`` says more). Every subclass names its
    code; a direct ``UserError`` is given one (tests/test_error_codes.py checks both)."""

    hint: str | None = None
    code: str = ""

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None,
                 details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if hint is not None:
            self.hint = hint
        if code is not None:
            self.code = code


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


def os_words(exc: OSError) -> str:
    """An operating system's refusal in plain words (``runs/a.yaml: permission denied``), not Python's
    ``[Errno 13] Permission denied: 'runs/a.yaml'``."""
    why = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
    why = why[:1].lower() + why[1:]
    if exc.filename is not None and exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {why}"
    return f"{exc.filename}: {why}" if exc.filename is not None else why
