from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BaseModelWithDatetime(BaseModel):
    """The base of the SDK's models (named by the reference, not defined by it)."""

    model_config = ConfigDict(protected_namespaces=(), validate_assignment=True)
