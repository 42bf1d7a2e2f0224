"""What a plan costs in GPUs and how risky it is, as values a plan carries (``plan/footprint.py`` works them out)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ActionFootprint(Frozen):
    """What one change asks for (positive GPUs) or frees (negative)."""

    address: str
    kind: str
    gpus: int = 0
    gpu_type: str | None = None
    cpu: str = ""
    memory: str = ""
    gpu_hours: float | None = None  # the upper bound of the GPU-hours it adds (None: none, or no bound)
    bounded: bool = True  # False: it adds GPUs with no spec.limits.maxDuration


class Footprint(Frozen):
    """What a plan costs in GPUs: per change, the change in GPUs requested at once by type, the total after the
    apply for the owner and each project, and GPU-hours (an upper bound where every run adding GPUs declares
    maxDuration). Worked out from what the plan fetched: no request of its own."""

    actions: tuple[ActionFootprint, ...] = ()
    change: dict[str, int] = Field(default_factory=dict)  # by GPU type: + asked for, - freed
    in_use: dict[str, int] = Field(default_factory=dict)  # the owner's active runs now (running or pending)
    after: dict[str, int] = Field(default_factory=dict)
    after_by_project: dict[str, dict[str, int]] = Field(default_factory=dict)
    gpu_hours: float = 0.0  # the bound, over the runs that have one
    unbounded: tuple[str, ...] = ()  # addresses adding GPUs with no maxDuration
    cost: float | None = None  # the GPU-hours of the priced types at the project file's prices (None: no prices)
    unpriced: tuple[str, ...] = ()  # GPU types added that have no price: ``cost`` leaves them out
    currency: str | None = None

    def money(self) -> str:
        """`` (≤ 4.70 USD)``, or what is priced and what is not (`` (≤ 3.10 USD for A100, L4; no price for T4)``);
        nothing when there is no price list or no bound."""
        if self.unbounded:
            return ""
        if self.cost is None:
            return f" (no price for {', '.join(self.unpriced)})" if self.unpriced else ""
        amount = f"≤ {self.cost:,.2f}" + (f" {self.currency}" if self.currency else "")
        if not self.unpriced:
            return f" ({amount})"
        priced = sorted({a.gpu_type for a in self.actions if a.gpus > 0 and a.gpu_type} - set(self.unpriced))
        of = f" for {', '.join(priced)}" if priced else ""
        return f" ({amount}{of}; no price for {', '.join(self.unpriced)})"

    def headline(self) -> str:
        """``+8 A100, ≤ 96 GPU-hours`` (``no bound`` when a run adding GPUs has no maxDuration)."""
        changes = [f"{n:+d} {t}" for t, n in sorted(self.change.items()) if n]
        if not changes:
            return "no change in GPUs"
        hours = "no bound on GPU-hours" if self.unbounded else f"≤ {_number(self.gpu_hours)} GPU-hours"
        return f"{', '.join(changes)}, {hours}{self.money()}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


class Risk(Frozen):
    """How carefully an apply should be let through: ``high`` with its reasons, or ``low``."""

    level: Literal["low", "high"] = "low"
    reasons: tuple[str, ...] = ()
