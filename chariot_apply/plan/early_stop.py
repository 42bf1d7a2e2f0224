"""A sweep's early stopping (``spec.earlyStop``): at each checked step, a point whose metric is worse than the median
of the other points there (or than a threshold) is stopped, as a lifecycle stop with both numbers; it keeps its
checkpoints and never wins the sweep. The decision is a pure function of the manifests and the points' metrics,
so ``plan`` shows what the next ``reconcile`` will stop, and a stopped point is recognised again by the same rule."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chariot_apply.chariot.models import Run
from chariot_apply.manifest.model import DeclaredRun, EarlyStop
from chariot_apply.plan.context import live_ref
from chariot_apply.plan.harvest import Harvest
from chariot_apply.plan.live import LiveState, RunKey
from chariot_apply.plan.model import Item, NoOp, Stop, phase_of


@dataclass(frozen=True)
class Verdict:
    step: int
    value: float
    against: float  # the median of the others, or the threshold
    points: int  # how many points had a value at that step (itself included)
    rule: EarlyStop

    def words(self) -> str:
        worse = ">" if self.rule.mode == "min" else "<"
        than = f"median {self.against:.4g} of {self.points} points" if self.rule.rule == "median" else \
            f"threshold {self.against:.4g}"
        return f"{self.rule.metric} {self.value:.4g} {worse} {than} at step {self.step:,}"


def _series(harvest: Harvest, tag: str) -> list[tuple[int, float]]:
    return sorted((step, float(v)) for (step, t), v in harvest.metrics.items()
                  if t == tag and v is not None and math.isfinite(float(v)))


def _at(series: Sequence[tuple[int, float]], step: int) -> float | None:
    """The value at ``step`` (the last one logged at or before it), once the run has logged past or at it."""
    if not series or series[-1][0] < step:
        return None
    before = [v for s, v in series if s <= step]
    return before[-1] if before else None


def verdict(rule: EarlyStop, mine: Harvest, others: Sequence[Harvest]) -> Verdict | None:
    """The first checked step at which ``mine`` is worse than the rule, if any."""
    own = _series(mine, rule.metric)
    peers = [_series(h, rule.metric) for h in others]
    for step in sorted(rule.at_steps):
        value = _at(own, step)
        if value is None:
            return None  # not there yet: later steps neither
        if rule.rule == "threshold":
            against, count = float(rule.threshold or 0.0), 1
        else:
            there = [v for s in peers if (v := _at(s, step)) is not None]
            if len(there) + 1 < rule.min_points:
                continue  # too few points there yet to say what the median is
            against, count = statistics.median(there), len(there) + 1
        if (value > against) if rule.mode == "min" else (value < against):
            return Verdict(step, value, against, count, rule)
    return None


@dataclass(frozen=True)
class _Sweep:
    name: str
    rule: EarlyStop
    points: list[tuple[RunKey, str]]  # (key, address), in the manifests' order


@dataclass(frozen=True)
class Stopped:
    """A point the rule stops (or stopped): its current run, the verdict, and its sweep's name."""

    run: Run
    verdict: Verdict
    sweep: str


def _sweeps(declared_at: Mapping[RunKey, tuple[str, DeclaredRun]]) -> list[_Sweep]:
    found: dict[tuple[str, str, str], _Sweep] = {}
    for key, (addr, run) in declared_at.items():
        origin = run.manifest.metadata.sweep
        if origin is not None and origin.early_stop is not None and run.spec.state == "running":
            found.setdefault((key[0], origin.name, key[2]), _Sweep(origin.name, origin.early_stop, [])).points.append(
                (key, addr))
    return list(found.values())


def stopped_early(declared_at: Mapping[RunKey, tuple[str, DeclaredRun]], by_address: Mapping[RunKey, Sequence[Run]],
                  live: LiveState, owned: Callable[[Run], bool]) -> dict[str, Stopped]:
    """The points the rule stops, by address: active ones to stop now, and those it stopped already (which never
    compete for the sweep's promotion)."""
    out: dict[str, Stopped] = {}
    for sweep in _sweeps(declared_at):
        current = {addr: ours[-1] for key, addr in sweep.points
                   if (ours := [r for r in by_address.get(key, ()) if owned(r)])}
        harvests = {addr: live.harvest.get(run.id or "", Harvest()) for addr, run in current.items()}
        for addr, run in current.items():
            found = verdict(sweep.rule, harvests[addr], [h for a, h in harvests.items() if a != addr])
            if found is not None and (phase_of(run.status) == "active" or run.status == "job_terminated"):
                out[addr] = Stopped(run, found, sweep.name)
    return out


def early_stops(items: list[Item], stopped: Mapping[str, Stopped]) -> list[Item]:
    """``items`` with the active points the rule stops now: a lifecycle stop in place of their "up to date"."""
    out: list[Item] = []
    for item in items:
        hit = stopped.get(item.address)
        if isinstance(item, NoOp) and hit is not None and phase_of(hit.run.status) == "active" \
                and item.live is not None and item.live.id == hit.run.id:
            rule = hit.verdict.rule
            steps = ", ".join(f"{s:,}" for s in sorted(rule.at_steps))
            out.append(Stop(address=item.address, live=live_ref(hit.run), sensitive=item.sensitive,
                            notices=item.notices, rule=f"sweep {hit.sweep}: spec.earlyStop ({rule.rule} of "
                            f"{rule.metric}, {rule.mode}, at steps {steps})",
                            reason=f"{hit.verdict.words()}: stopped early; it keeps its checkpoints and does not "
                                   "compete for the sweep's promotion"))
        else:
            out.append(item)
    return out
