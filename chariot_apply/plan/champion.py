"""A promotion's gate (``promote[].require``): the checkpoint it chose must be below or above a value, and better
than a champion's by some percent; the champion's value is the one of the run its model was made from, at the
checkpoint it was made from (``fetch`` reads it). The verdict says both numbers, or why it blocks. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chariot_apply.manifest.model import Promotion


@dataclass(frozen=True)
class GateVerdict:
    ok: bool
    words: str  # "val/loss 0.41 < champion m@1.0.0's 0.44, 6.8 % better", or why it blocks


def _better(value: float, than: float, mode: str) -> bool:
    return value < than if mode == "min" else value > than


def judge(promotion: Promotion, value: float | None,
          champions: Mapping[tuple[str, str], float | None]) -> GateVerdict | None:
    """The gate of ``promotion`` on the chosen checkpoint's ``value`` (None: there is no gate)."""
    required = promotion.required()
    if required is None or promotion.require is None:
        return None
    metric, mode = required
    require = promotion.require
    if value is None:
        return GateVerdict(False, f"the chosen checkpoint has no value of {metric} to judge it by")
    said: list[str] = []
    for bound, op in ((require.below, "<"), (require.above, ">")):
        if bound is not None:
            if not (value < bound if op == "<" else value > bound):
                return GateVerdict(False, f"{metric} {value:.4g} is not {op} {bound:.4g} (require."
                                          f"{'below' if op == '<' else 'above'})")
            said.append(f"{metric} {value:.4g} {op} {bound:.4g}")
    if require.better_than is not None:
        name = require.better_than.model
        champion = champions.get((name, metric))
        if champion is None:
            return GateVerdict(False, f"the champion {name} has no known value of {metric} (it does not exist, or "
                                      "was not made by chariot-apply from a run whose metrics can be read)")
        needed = champion * (1 - require.better_than.by / 100) if mode == "min" else \
            champion * (1 + require.better_than.by / 100)
        gain = (champion - value) / abs(champion) * 100 if mode == "min" else (value - champion) / abs(champion) * 100
        by = f" by {require.better_than.by:g} %" if require.better_than.by else ""
        if not _better(value, needed, mode):
            return GateVerdict(False, f"{metric} {value:.4g} does not beat champion {name}'s {champion:.4g}{by} "
                                      f"({gain:+.1f} %)")
        said.append(f"{metric} {value:.4g} {'<' if mode == 'min' else '>'} champion {name}'s {champion:.4g}, "
                    f"{gain:.1f} % better")
    return GateVerdict(True, "; ".join(said))
