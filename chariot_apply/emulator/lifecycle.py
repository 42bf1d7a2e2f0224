"""The simulated life of a training run, as pure functions of its state and the time.

A run goes ``run_created → job_created → job_submitted → job_pending → job_running``,
trains one global step per ``step_seconds`` (writing ``loss`` and ``accuracy``, a
checkpoint every ``checkpoint_every`` steps), and ends ``job_completed``. A stop
goes ``run_stop_requested → job_terminate_requested → job_terminating →
job_terminated``, finishing within the grace period (never later than it).

A run may be made to fail (``job_failed``) at a chosen step, or with a probability (decided once per run,
from its id), so that failure can be tested. ``time_scale`` speeds the whole life up (10: ten times faster).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

from chariot_apply.chariot.models import FINISHED_STATUSES

START_PHASES: tuple[str, ...] = ("job_created", "job_submitted", "job_pending", "job_running")
STOP_PHASES: tuple[str, ...] = ("job_terminate_requested", "job_terminating", "job_terminated")


@dataclass(frozen=True)
class LifecycleTiming:
    phase_seconds: tuple[float, ...] = (1.0, 1.0, 2.0, 2.0)  # delay before each START_PHASES entry
    step_seconds: float = 1.0
    checkpoint_every: int = 10
    default_steps: int = 50
    max_steps: int = 10_000
    stop_phase_seconds: tuple[float, ...] = (1.0, 2.0, 3.0)  # after the stop; capped by the grace period
    fail_at_step: int | None = None  # every run fails at this step
    fail_probability: float = 0.0  # or: this share of runs fails, each at a step of its own

    def scaled(self, time_scale: float) -> LifecycleTiming:
        """The same life, ``time_scale`` times faster."""
        return replace(self, phase_seconds=tuple(s / time_scale for s in self.phase_seconds),
                       step_seconds=self.step_seconds / time_scale,
                       stop_phase_seconds=tuple(s / time_scale for s in self.stop_phase_seconds))


@dataclass(frozen=True)
class RunClock:
    """What the lifecycle needs to know about a run; times are epoch seconds."""

    status: str
    phase: int  # index of the next START_PHASES entry; len(START_PHASES) once running
    global_step: int
    total_steps: int
    next_at: float | None  # when the next transition is due; None when nothing more will happen
    stop_at: float | None = None  # when the stop was requested
    grace: float | None = None
    fail_step: int | None = None  # the step at which the run fails (a fault knob), if it does

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class Effect:
    """Something that happened at ``at``: a status change (``status``), or a step's outputs."""

    at: float
    status: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    global_step: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: bool = False
    complete_checkpoints: bool = False


def total_steps(config: dict[str, Any], timing: LifecycleTiming) -> int:
    """Steps a run will train: ``max_steps``, else ``epochs`` x 10, else the default."""
    for key, factor in (("max_steps", 1), ("epochs", 10)):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return min(value * factor, timing.max_steps)
    return timing.default_steps


def started(created_at: float, config: dict[str, Any], timing: LifecycleTiming, seed: str = "") -> RunClock:
    total = total_steps(config, timing)
    return RunClock(status="run_created", phase=0, global_step=0, total_steps=total,
                    next_at=created_at + timing.phase_seconds[0], fail_step=_fail_step(total, timing, seed))


def _fail_step(total: int, timing: LifecycleTiming, seed: str) -> int | None:
    if timing.fail_at_step is not None:
        return min(timing.fail_at_step, total)
    if timing.fail_probability <= 0:
        return None
    digest = hashlib.sha256(seed.encode()).digest()
    chance, where = digest[0] / 256, int.from_bytes(digest[1:5], "big") / 2**32
    return 1 + int(where * total) if chance < timing.fail_probability else None


def metric_values(step: int, total: int) -> dict[str, float]:
    progress = step / max(total, 1)
    return {"loss": round(2.5 * math.exp(-3 * progress) + 0.05, 6),
            "accuracy": round(0.1 + 0.85 * (1 - math.exp(-4 * progress)), 6)}


def request_stop(run: RunClock, now: float, grace: float, timing: LifecycleTiming) -> tuple[RunClock, Effect]:
    first = now + min(timing.stop_phase_seconds[0], grace)
    stopping = replace(run, status="run_stop_requested", stop_at=now, grace=grace, next_at=first)
    return stopping, Effect(at=now, status="run_stop_requested", details={"grace_period_seconds": grace})


def advance(run: RunClock, now: float, timing: LifecycleTiming) -> tuple[RunClock, list[Effect]]:
    """Every transition due by ``now``, in order, and the state after them."""
    effects: list[Effect] = []
    while run.next_at is not None and run.next_at <= now and not run.finished:
        run, effect = _step(run, timing)
        effects.append(effect)
    return run, effects


def _step(run: RunClock, timing: LifecycleTiming) -> tuple[RunClock, Effect]:
    at = run.next_at
    assert at is not None
    if run.stop_at is not None:
        index = STOP_PHASES.index(run.status) + 1 if run.status in STOP_PHASES else 0
        status = STOP_PHASES[index]
        nxt = None
        if index + 1 < len(STOP_PHASES):
            nxt = run.stop_at + min(timing.stop_phase_seconds[index + 1], run.grace or 0.0)
        return replace(run, status=status, next_at=nxt), Effect(at=at, status=status)
    if run.phase < len(START_PHASES):
        status = START_PHASES[run.phase]
        phase = run.phase + 1
        nxt = at + (timing.phase_seconds[phase] if phase < len(START_PHASES) else timing.step_seconds)
        return replace(run, status=status, phase=phase, next_at=nxt), Effect(at=at, status=status)
    step = run.global_step + 1
    if step == run.fail_step:
        failed = Effect(at=at, global_step=step, metrics=metric_values(step, run.total_steps), status="job_failed",
                        details={"reason": f"the training process exited at step {step} (injected failure)"})
        return replace(run, global_step=step, status="job_failed", next_at=None), failed
    done = step >= run.total_steps
    effect = Effect(at=at, global_step=step, metrics=metric_values(step, run.total_steps),
                    checkpoint=step % timing.checkpoint_every == 0 or done, complete_checkpoints=True,
                    status="job_completed" if done else None)
    return replace(run, global_step=step, status="job_completed" if done else run.status,
                   next_at=None if done else at + timing.step_seconds), effect
