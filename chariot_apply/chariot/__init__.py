"""The Chariot training service, typed: models, errors, the REST model and the client."""

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

__all__ = [
    "ApiException",
    "AsyncChariotClient",
    "BlueprintDoesNotExistError",
    "ChariotClient",
    "ChariotError",
    "ChariotSettings",
    "RunDoesNotExistError",
    "ValidationError",
]
