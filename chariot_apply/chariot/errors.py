"""Every error the Chariot client raises, as one tree.

httpx and JSON failures are translated into this tree at a single boundary
(``client._send``); nothing above the client ever sees an httpx exception.

    ChariotError
    ├── InvalidArgumentError (also a ValueError)  bad arguments, caught before any request
    ├── TransportError                            the server could not be reached / answered garbage
    │   └── WriteOutcomeUnknownError              a write was sent, its answer was lost: look before retrying
    └── ApiException                              the server answered with an error status
        ├── AuthenticationError        401  credentials missing, refused or expired
        ├── PermissionDeniedError      403  authenticated, but not allowed (never retried)
        ├── NotFoundError              404
        │   ├── BlueprintDoesNotExistError
        │   ├── RunDoesNotExistError
        │   ├── CheckpointDoesNotExistError
        │   └── ProjectDoesNotExistError
        ├── ConflictError              409  e.g. stopping a run that already finished
        ├── ValidationError            422  carries every config error with its JSON path
        ├── RateLimitedError           429
        └── ServerError                5xx
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError


@dataclass(frozen=True)
class ConfigError:
    """One problem in a run config, located by a JSON path such as ``$.optimizer.lr``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ChariotError(UserError):
    """Base of everything the client raises. ``hint`` says what the user can do about it."""

    code = codes.SERVER_ERROR


class InvalidArgumentError(ChariotError, ValueError):
    """An argument was rejected before anything was sent (the SDK raises ValueError here)."""

    code = codes.INVALID_ARGUMENT


class TransportError(ChariotError):
    """The request did not get a usable HTTP answer (connection refused, dropped, timed out, bad JSON)."""

    hint = "check CHARIOT_URL and that the server is reachable"
    code = codes.UNREACHABLE


class WriteOutcomeUnknownError(TransportError):
    """A write reached the wire but its answer was lost: it may or may not have happened."""

    hint = "look the object up before retrying; never repeat the write blindly"
    code = codes.OUTCOME_UNKNOWN


class ApiException(ChariotError):
    """The server answered with an error status. Built as the SDK's ``ApiException`` is (``status``, ``reason``,
    ``http_resp``, then ``body`` and ``data`` by keyword), so that code written against the SDK reads ours; the
    message a user reads, the request id and the hint are ours, by keyword."""

    def __init__(self, status: int | None = None, reason: str | None = None, http_resp: Any = None, *,
                 body: str | None = None, data: Any = None, message: str | None = None,
                 request_id: str | None = None, hint: str | None = None) -> None:
        super().__init__(message or reason or (f"HTTP {status}" if status else "the Chariot API failed"), hint=hint)
        self.status = status
        self.reason = reason
        self.http_resp = http_resp
        self.body = body
        self.data = data
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(HTTP {self.status}{' ' + self.reason if self.reason else ''})")
        if self.request_id:
            parts.append(f"[request id {self.request_id}]")
        return " ".join(parts)


class AuthenticationError(ApiException):
    code = codes.CREDENTIAL_REFUSED
    hint = "set CHARIOT_TOKEN, or CHARIOT_CLIENT_ID and CHARIOT_CLIENT_SECRET, to valid credentials"


class PermissionDeniedError(ApiException):
    code = codes.CREDENTIAL_REFUSED
    hint = "ask a project Owner for the training_job_create / training_job_write permission"


class NotFoundError(ApiException):
    code = codes.NOT_FOUND


class BlueprintDoesNotExistError(NotFoundError):
    """Built as the SDK's is: ``(id=None, name=None, version_ilike=None)``; the HTTP details by keyword."""

    def __init__(self, id: str | None = None, name: str | None = None, version_ilike: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("message", _blueprint_words(id, name, version_ilike))
        super().__init__(**kwargs)
        self.name = name
        self.version_ilike = version_ilike
        self.id = id

    hint = "check the blueprint name and version pattern (SQL ILIKE: % and _ are wildcards)"
    code = codes.BLUEPRINT_NOT_FOUND


def _blueprint_words(id: str | None, name: str | None, version_ilike: str | None) -> str:
    if id is not None:
        return f"blueprint {id} does not exist"
    return f"blueprint {name!r}" + (f" with version ILIKE {version_ilike!r}" if version_ilike is not None else "") + \
        " does not exist"


class RunDoesNotExistError(NotFoundError):
    hint = "the run was deleted or never existed"


class CheckpointDoesNotExistError(NotFoundError):
    pass


class ProjectDoesNotExistError(NotFoundError):
    code = codes.PROJECT_NOT_FOUND
    hint = "check the project name or id"


class ConflictError(ApiException):
    pass


class ValidationError(ApiException):
    """The server refused a config or a request body; ``errors`` lists every problem with its path."""

    code = codes.CONFIG_INVALID
    def __init__(self, status: int | None = 422, reason: str | None = None, http_resp: Any = None, *,
                 errors: list[ConfigError] | None = None, **kwargs: Any) -> None:
        super().__init__(status, reason, http_resp, **kwargs)
        self.errors: list[ConfigError] = list(errors or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.errors:
            return head
        return head + "".join(f"\n  {e}" for e in self.errors)


class RateLimitedError(ApiException):
    pass


class ServerError(ApiException):
    hint = "the Chariot server failed; try again later, and quote the request id if it persists"


_BY_STATUS: dict[int, type[ApiException]] = {401: AuthenticationError, 403: PermissionDeniedError,
                                            409: ConflictError, 429: RateLimitedError}


def error_for_status(status: int | None, message: str, *, problems: list[ConfigError] | None = None,
                     not_found: type[NotFoundError] = NotFoundError, **details: Any) -> ApiException:
    """The error of our tree an answer's status means, whichever backend read it: 404 ``not_found``, 422 a
    ``ValidationError`` with its ``problems``, 5xx a ``ServerError``, the others by their status."""
    if status == 404:
        return not_found(message=message, status=status, **details)
    if status == 422:
        return ValidationError(message=message, errors=problems, status=status, **details)
    if status is not None and status >= 500:
        return ServerError(message=message, status=status, **details)
    return _BY_STATUS.get(status or 0, ApiException)(message=message, status=status, **details)
