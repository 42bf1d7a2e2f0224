"""The Chariot training service, typed: models, errors, the REST model and the client.

Its names load on first use (PEP 562), so that importing one small module of the package (the settings,
the errors) does not load the HTTP client too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chariot_apply.chariot.client import AsyncChariotClient
    from chariot_apply.chariot.errors import (
        ApiException,
        BlueprintDoesNotExistError,
        ChariotError,
        RunDoesNotExistError,
        ValidationError,
    )
    from chariot_apply.chariot.settings import ChariotSettings
    from chariot_apply.chariot.sync import ChariotClient

_HOMES = {"AsyncChariotClient": "client", "ApiException": "errors", "BlueprintDoesNotExistError": "errors",
          "ChariotError": "errors", "RunDoesNotExistError": "errors", "ValidationError": "errors",
          "ChariotSettings": "settings", "ChariotClient": "sync"}

__all__ = ["ApiException", "AsyncChariotClient", "BlueprintDoesNotExistError", "ChariotClient", "ChariotError",
           "ChariotSettings", "RunDoesNotExistError", "ValidationError"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"chariot_apply.chariot.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
