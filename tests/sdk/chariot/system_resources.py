"""``chariot.system_resources.get_available_system_gpus``: named by the reference, not documented."""

from __future__ import annotations

from chariot.training_v2._calls import call
from chariot.training_v2.run import Gpu


def get_available_system_gpus() -> list[Gpu]:
    return [Gpu.model_validate(g.model_dump()) for g in call(lambda c: c.get_available_system_gpus())]
