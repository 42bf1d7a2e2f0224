"""The one boundary where what the SDK raises becomes our error tree. The reference defines two exceptions
(``ApiException``, ``BlueprintDoesNotExistError``) by their constructors only, and names others it does not define
(``APIException``, ``ValidationError``, ``RunDoesNotExistError``, ``OpenApiException``): so classes are
recognised by name as well as by the documented class, attributes are read if they are there, and nothing the
SDK raises reaches the user as a crash."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from chariot_apply.chariot.errors import (
    BlueprintDoesNotExistError,
    ChariotError,
    ConfigError,
    InvalidArgumentError,
    RunDoesNotExistError,
    TransportError,
    ValidationError,
    WriteOutcomeUnknownError,
    error_for_status,
)

API_EXCEPTIONS = frozenset({"ApiException", "APIException", "OpenApiException"})
#: The generated API client's words: "(401)\nReason: Unauthorized\n...HTTP response body: {...}"
_STATUS_WORDS = re.compile(r"^\((?P<status>\d{3})\)\s*(?:Reason: (?P<reason>[^\n]*))?")
_BODY_WORDS = re.compile(r"HTTP response body: (?P<body>.*?)\s*\Z", re.DOTALL)


def ours(exc: Exception, *, write: bool) -> Exception:
    """``exc``, raised by an SDK call, as an error of our tree. For a write, whatever is not a documented
    refusal means the write may have happened: the executor looks before it is ever sent again."""
    if isinstance(exc, ChariotError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "BlueprintDoesNotExistError" in names:
        return _no_blueprint(exc)
    if "RunDoesNotExistError" in names:
        return RunDoesNotExistError(404, message=_words(exc) or "the run does not exist")
    if names & API_EXCEPTIONS:
        return api_error(exc)
    if "ValidationError" in names:  # documented as raised for a refused config or ill-formed parameters
        return refused(exc)
    if isinstance(exc, OSError):  # connection errors, timeouts
        if write:
            return WriteOutcomeUnknownError(f"the SDK's call failed ({type(exc).__name__}: {exc}); the write "
                                            "may have happened")
        return TransportError(f"could not reach Chariot through the SDK: {type(exc).__name__}: {exc}")
    if write:
        return WriteOutcomeUnknownError(f"the SDK's call failed with {type(exc).__name__}: {_words(exc)}; the "
                                        "write may have happened")
    if isinstance(exc, ValueError):
        return InvalidArgumentError(_words(exc))
    return ChariotError(f"the SDK's call failed with {type(exc).__name__}: {_words(exc)}",
                        hint="check the SDK's connection (chariot init), or choose --backend rest")


def config_refused(exc: Exception) -> Exception:
    """What ``validate_run_config`` raised: an API failure, a lost connection or an unknown blueprint as such;
    anything else is the config's problem, with the SDK's words (the reference does not say which class its
    ValidationError is)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, ChariotError | OSError) or names & (API_EXCEPTIONS | {"BlueprintDoesNotExistError"}):
        return ours(exc, write=False)
    return refused(exc)


def refused(exc: Exception) -> ValidationError:
    """A refused config: pydantic's errors by their locations, else the exception's words at the config."""
    if isinstance(exc, PydanticValidationError):
        problems = [ConfigError(_json_path(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
    else:
        problems = [ConfigError("$", _words(exc) or type(exc).__name__)]
    return ValidationError(422, message="; ".join(f"{p.path}: {p.message}" for p in problems), errors=problems)


def api_error(exc: Any) -> ChariotError:
    """An SDK ``ApiException`` as ours: its status, reason and body where it keeps them, else what its words
    say; the message of the JSON body's ``error`` and the paths of its ``errors``."""
    status, reason, body = _answer(exc)
    message = str(reason or (f"HTTP {status}" if status else _words(exc) or "the Chariot API failed"))
    message, problems = _envelope(body, message)
    if status == 422 and not problems:
        problems = [ConfigError("$", message)]
    return error_for_status(status, message, problems=problems, reason=reason, body=(body or "")[:2000])


def _answer(exc: Any) -> tuple[int | None, str | None, str | None]:
    """(status, reason, body) from the exception's attributes, else from the generated client's words."""
    status, reason, body = getattr(exc, "status", None), getattr(exc, "reason", None), getattr(exc, "body", None)
    words = str(exc)
    said = _STATUS_WORDS.match(words)
    if not isinstance(status, int) and said:
        status, reason = int(said["status"]), reason or said["reason"]
    if not isinstance(body, str) and (written := _BODY_WORDS.search(words)):
        body = written["body"]
    return (status if isinstance(status, int) else None, reason if isinstance(reason, str) else None,
            body if isinstance(body, str) else None)


def _envelope(body: str | None, message: str) -> tuple[str, list[ConfigError]]:
    """The service's JSON error body: its ``error`` as the message, its ``errors`` as located problems."""
    try:
        envelope = json.loads(body) if body else None
    except ValueError:
        return message, []
    if not isinstance(envelope, dict):
        return message, []
    found = envelope.get("errors")
    problems = [ConfigError(str(e.get("path", "$")), str(e.get("message", "")))
                for e in (found if isinstance(found, list) else []) if isinstance(e, dict)]
    return str(envelope.get("error") or message), problems


def _no_blueprint(exc: Exception) -> BlueprintDoesNotExistError:
    found = {k: getattr(exc, k, None) for k in ("id", "name", "version_ilike")}
    if any(isinstance(v, str) for v in found.values()):
        return BlueprintDoesNotExistError(*(v if isinstance(v, str) else None for v in found.values()))
    return BlueprintDoesNotExistError(message=_words(exc) or "the blueprint does not exist")


def _words(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


def _json_path(loc: Any) -> str:
    parts = loc if isinstance(loc, list | tuple) else (loc,)
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
