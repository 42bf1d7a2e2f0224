"""``chariot.system_resources.get_available_system_gpus``: named by the reference, not documented. What it returns
is the ``gpus`` variant's choice: ``Gpu`` models, dicts, or GPU type names."""

from __future__ import annotations

from typing import Any

from chariot.training_v2._calls import call as _call
from chariot.training_v2._variants import variant as _variant
from chariot.training_v2.run import Gpu as _Gpu


def get_available_system_gpus() -> list[Any]:
    gpus = _call(lambda c: c.get_available_system_gpus())
    shape = _variant("gpus")
    if shape == "strings":
        return [g.type for g in gpus]
    if shape == "dicts":
        return [{"type": g.type, "count": g.count} for g in gpus]
    return [_Gpu.model_validate({"type": g.type, "count": g.count if g.count is not None else 0}) for g in gpus]
