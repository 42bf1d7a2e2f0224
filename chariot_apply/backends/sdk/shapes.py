"""What the SDK returns, read as ours through the documented field names only (an attribute, or a key where
the SDK returns a dict): no ``model_dump`` or other method the reference does not promise. Where the reference
leaves a shape open (the GPUs of ``get_available_system_gpus``), every variant is read."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from chariot_apply.chariot.errors import ChariotError
from chariot_apply.chariot.models import SystemGpu
from chariot_apply.diagnostics.errors import describe_validation

M = TypeVar("M", bound=BaseModel)


def read_as(model: type[M], found: Any) -> M:
    """``found`` (an SDK model, or a dict) as our ``model``, field by documented field."""
    try:
        return model.model_validate(_fields(model, found))
    except PydanticValidationError as exc:
        raise ChariotError(f"the SDK returned a {model.__name__} chariot-apply cannot read: "
                           f"{describe_validation(exc)}", hint="report it with the SDK's version") from None


def _fields(model: type[BaseModel], found: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in model.model_fields:
        value = found.get(name) if isinstance(found, Mapping) else getattr(found, name, None)
        inner = _nested(model)[name]
        if inner is not None and value is not None:
            value = [_fields(inner, v) for v in value] if isinstance(value, list | tuple) else _fields(inner, value)
        values[name] = value
    return values


@functools.cache
def _nested(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """For each field, the model it holds (alone, optional or in a list), if any."""
    return {name: _model_in(info.annotation) for name, info in model.model_fields.items()}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None


def system_gpu(found: Any) -> SystemGpu:
    """A GPU type as ``get_available_system_gpus`` gives it: a ``Gpu``-like object, a dict, or its type name
    (the reference names the function without documenting what it returns)."""
    if isinstance(found, str):
        return SystemGpu(type=found)
    return read_as(SystemGpu, found)
