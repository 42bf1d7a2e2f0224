"""What the reference names as bases without defining them (private here: not importable by a documented
name)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BaseModelWithDatetime(BaseModel):
    """The base of the SDK's models (named by the reference, not defined by it)."""

    model_config = ConfigDict(protected_namespaces=(), validate_assignment=True)


class OpenApiException(Exception):
    """The base of the generated API client's errors (named by the reference as ``ApiException``'s base)."""
