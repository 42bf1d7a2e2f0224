"""How the stand-in reaches the emulator, and how what goes wrong is raised as the SDK raises it, in the
variant chosen (``_variants``). The classes the reference names without defining live here, private."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic_core

from chariot.client import _session
from chariot.training_v2._variants import variant
from chariot.training_v2.exceptions import ApiException, BlueprintDoesNotExistError
from chariot_apply.backends.rest.sync import ChariotClient
from chariot_apply.chariot import errors as ours

T = TypeVar("T")


class RunDoesNotExistError(Exception):
    """Raised by ``Run.reload`` (named by the reference, not defined)."""


class _ApiValidationError(ApiException):
    """``ValidationError`` as an ApiException (HTTP 422, the service's JSON body)."""


class _PlainValidationError(Exception):
    """``ValidationError`` as a plain exception with a message."""


class _ProtocolError(Exception):
    """A lost connection as an HTTP library raises it, not an OSError (as urllib3's ProtocolError is)."""


for _cls in (_ApiValidationError, _PlainValidationError):
    _cls.__name__ = _cls.__qualname__ = "ValidationError"
_ProtocolError.__name__ = _ProtocolError.__qualname__ = "ProtocolError"


def call(operation: Callable[[ChariotClient], T]) -> T:
    """``operation`` on this thread's client, its errors turned into the SDK's."""
    try:
        return operation(_session())
    except ours.BlueprintDoesNotExistError as exc:
        raise BlueprintDoesNotExistError(id=exc.id, name=exc.name, version_ilike=exc.version_ilike) from None
    except ours.RunDoesNotExistError as exc:
        raise RunDoesNotExistError(exc.message) from None
    except ours.ValidationError as exc:
        raise _validation_error(exc) from None
    except ours.ApiException as exc:
        raise ApiException(exc.status, exc.reason, body=exc.body) from None
    except ours.InvalidArgumentError as exc:
        raise ValueError(exc.message) from None
    except ours.TransportError as exc:
        if variant("lost") == "other":
            raise _ProtocolError(f"Connection aborted: {exc.message}") from None
        raise ConnectionError(exc.message) from None


def _validation_error(exc: ours.ValidationError) -> Exception:
    chosen = variant("validation")
    if chosen == "pydantic":
        return pydantic_core.ValidationError.from_exception_data("config", [
            {"type": "value_error", "loc": _loc(e.path), "input": None, "ctx": {"error": e.message}}
            for e in exc.errors] or [{"type": "value_error", "loc": (), "input": None, "ctx": {"error": exc.message}}])
    if chosen == "plain":
        return _PlainValidationError("; ".join(f"{e.path}: {e.message}" for e in exc.errors) or exc.message)
    body = exc.body or json.dumps({"error": exc.message,
                                   "errors": [{"path": e.path, "message": e.message} for e in exc.errors]})
    return _ApiValidationError(422, exc.reason or "Unprocessable Entity", body=body)


def _loc(path: str) -> tuple[str | int, ...]:
    """``$.a.b[0]`` as pydantic's location ``("a", "b", 0)``."""
    return tuple(int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]$]+", path))


def dumped(model: Any) -> dict[str, Any]:
    return dict(model.model_dump())
