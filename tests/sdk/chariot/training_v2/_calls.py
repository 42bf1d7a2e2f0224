"""How the stand-in reaches the emulator, and how what goes wrong is raised as the SDK raises it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from chariot.client import session
from chariot.training_v2 import exceptions as sdk_errors
from chariot_apply.backends.rest.sync import ChariotClient
from chariot_apply.chariot import errors as ours

T = TypeVar("T")


def call(operation: Callable[[ChariotClient], T]) -> T:
    """``operation`` on this thread's client, its errors turned into the SDK's."""
    try:
        return operation(session())
    except ours.BlueprintDoesNotExistError as exc:
        raise sdk_errors.BlueprintDoesNotExistError(id=exc.id, name=exc.name, version_ilike=exc.version_ilike) \
            from None
    except ours.RunDoesNotExistError as exc:
        raise sdk_errors.RunDoesNotExistError(None) from exc
    except ours.ValidationError as exc:
        body = exc.body or json.dumps({"error": exc.message,
                                       "errors": [{"path": e.path, "message": e.message} for e in exc.errors]})
        raise sdk_errors.ValidationError(422, exc.reason or "Unprocessable Entity", body=body) from None
    except ours.ApiException as exc:
        raise sdk_errors.ApiException(exc.status, exc.reason, body=exc.body) from None
    except ours.InvalidArgumentError as exc:
        raise ValueError(exc.message) from None
    except ours.TransportError as exc:
        raise ConnectionError(exc.message) from None


def dumped(model: Any) -> dict[str, Any]:
    return dict(model.model_dump())
