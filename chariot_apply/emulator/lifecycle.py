"""The simulated life of a training run, as functions of its state, its training (``training.Recipe``) and the time.

A run goes ``run_created → job_created → job_submitted → job_pending → job_running``. It waits in ``job_pending``
while the cluster has not the GPUs it asks for (``Admission``), and ends ``job_create_failed`` at once when it
never could. Running, it trains one global step per ``step_seconds``, logging training metrics; at the end of
each epoch a validation pass (a second progress operation, ``Evaluating``) writes many tags at one step, and
every ``checkpoint_every`` steps a checkpoint is saved, incomplete until the next step has uploaded it. It ends
``job_completed``, or ``job_failed``: its loss became NaN, its batch did not fit in memory, its ``start_model``
does not exist, or a fault knob said so (another knob hangs it: running, its progress never moving). A restart
(``run_restart_requested``) sends it back to ``job_pending`` and on from its last checkpoint. A stop goes
``run_stop_requested → job_terminate_requested → job_terminating → job_terminated``,
finishing within the grace period (never later than it).

``time_scale`` speeds the whole life up (10: ten times faster).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from chariot_apply.chariot.models import FINISHED_STATUSES
from chariot_apply.emulator import training

#: The reason of an injected failure, by its cause: the words real platforms use for each.
FAILURE_WORDS = {
    "process": "the training process exited at step {step} (injected failure)",
    "infrastructure": "the node running the job failed at step {step}: GPU fell off the bus (Xid 79; injected)",
    "preempted": "the job was preempted at step {step}: its node was reclaimed (injected)",
}

START_PHASES: tuple[str, ...] = ("job_created", "job_submitted", "job_pending", "job_running")
STOP_PHASES: tuple[str, ...] = ("job_terminate_requested", "job_terminating", "job_terminated")
RUNNING = len(START_PHASES)


@dataclass(frozen=True)
class LifecycleTiming:
    phase_seconds: tuple[float, ...] = (1.0, 1.0, 2.0, 2.0)  # delay before each START_PHASES entry
    step_seconds: float = 1.0
    stop_phase_seconds: tuple[float, ...] = (1.0, 2.0, 3.0)  # after the stop; capped by the grace period
    fail_at_step: int | None = None  # every run trained from scratch fails at this step (not one that resumes)
    fail_cause: str = "process"  # what that failure says it was: "process", "infrastructure" or "preempted"
    fail_probability: float = 0.0  # or: this share of runs fails, each at a step of its own
    restart_at_step: int | None = None  # every run is restarted once at this step (a node lost)
    stall_at_step: int | None = None  # every run hangs after this step: running, its progress never moves again

    def scaled(self, time_scale: float) -> LifecycleTiming:
        """The same life, ``time_scale`` times faster."""
        return dataclasses.replace(self, phase_seconds=tuple(s / time_scale for s in self.phase_seconds),
                       step_seconds=self.step_seconds / time_scale,
                       stop_phase_seconds=tuple(s / time_scale for s in self.stop_phase_seconds))


class RunClock(NamedTuple):
    """What the lifecycle needs to know about a run; times are epoch seconds. A named tuple: a catch-up makes one a
    transition (tens of thousands after a pause), and ``_replace`` costs a fifth of ``dataclasses.replace``."""

    status: str
    phase: int  # index of the next START_PHASES entry; RUNNING once running
    global_step: int
    total_steps: int
    next_at: float | None  # when the next transition is due; None when nothing more will happen by itself
    stop_at: float | None = None  # when the stop was requested
    grace: float | None = None
    fail_step: int | None = None  # the step at which the run fails (a fault knob), if it does
    restart_step: int | None = None  # the step at which it is restarted, once
    stall_step: int | None = None  # the step after which it hangs (a fault knob): running, and nothing more happens
    evaluating: int | None = None  # validation batches done, during a validation pass
    waiting: str | None = None  # why it waits in job_pending (no GPUs free), until a run ends

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
    metrics: dict[str, float | None] = field(default_factory=dict)
    checkpoint: bool = False
    complete_checkpoints: bool = False
    progress: bool = False  # the run's progress changed (without a step: a validation pass moved on)


@dataclass
class Admission:
    """What decides whether a run may be created and start, from outside the run: the cluster and the catalog."""

    #: Why the job cannot be created at all (more GPUs than the cluster has), if so.
    create_problem: Callable[[], str | None] = lambda: None
    #: Why the run will have to wait for GPUs, if it would now (nothing is taken).
    shortage: Callable[[], str | None] = lambda: None
    #: Why the run must wait for GPUs now (None: they were taken for it).
    take_gpus: Callable[[], str | None] = lambda: None
    #: Why the run cannot start (its start_model is missing), if so.
    start_problem: Callable[[], str | None] = lambda: None
    #: Why the first step runs out of memory, if it does.
    memory_problem: Callable[[], str | None] = lambda: None


def started(created_at: float, r: training.Recipe, timing: LifecycleTiming, seed: str = "",
            resume_step: int = 0) -> RunClock:
    """A new run's clock; ``resume_step``: it resumes from a checkpoint of an earlier attempt at that step, and an
    injected failure (a fault of the node, not of the training) does not happen to it again."""
    resume = min(max(0, resume_step), r.total_steps)
    return RunClock(status="run_created", phase=0, global_step=resume, total_steps=r.total_steps,
                    next_at=created_at + timing.phase_seconds[0],
                    fail_step=None if resume else _fail_step(r.total_steps, timing, seed),
                    restart_step=timing.restart_at_step, stall_step=timing.stall_at_step)


def _fail_step(total: int, timing: LifecycleTiming, seed: str) -> int | None:
    if timing.fail_at_step is not None:
        return min(timing.fail_at_step, total)
    if timing.fail_probability <= 0:
        return None
    digest = hashlib.sha256(seed.encode()).digest()
    chance, where = digest[0] / 256, int.from_bytes(digest[1:5], "big") / 2**32
    return 1 + int(where * total) if chance < timing.fail_probability else None


def request_stop(run: RunClock, now: float, grace: float, timing: LifecycleTiming) -> tuple[RunClock, Effect]:
    first = now + min(timing.stop_phase_seconds[0], grace)
    stopping = run._replace(status="run_stop_requested", stop_at=now, grace=grace, next_at=first, evaluating=None,
                       waiting=None)
    return stopping, Effect(at=now, status="run_stop_requested", details={"grace_period_seconds": grace})


def advance(run: RunClock, now: float, timing: LifecycleTiming, r: training.Recipe, seed: str,
            admission: Admission | None = None) -> tuple[RunClock, list[Effect]]:
    """Every transition due by ``now``, in order, and the state after them."""
    effects: list[Effect] = []
    gate = admission or Admission()
    while run.next_at is not None and run.next_at <= now and not run.finished:
        run, effect = _step(run, timing, r, seed, gate)
        effects.append(effect)
    return run, effects


def _failed(run: RunClock, at: float, reason: str, step: int | None = None,
            metrics: dict[str, float | None] | None = None, **details: Any) -> tuple[RunClock, Effect]:
    """The run ends ``job_failed`` with ``reason``; at ``step``, with what it logged there, if it had trained."""
    return (run._replace(status="job_failed", next_at=None, evaluating=None,
                    global_step=run.global_step if step is None else step),
            Effect(at=at, status="job_failed", global_step=step, metrics=metrics or {},
                   details={"reason": reason, **details}))


def _step(run: RunClock, timing: LifecycleTiming, r: training.Recipe, seed: str,
          gate: Admission) -> tuple[RunClock, Effect]:
    at = run.next_at
    assert at is not None
    if run.stop_at is not None:
        index = STOP_PHASES.index(run.status) + 1 if run.status in STOP_PHASES else 0
        status = STOP_PHASES[index]
        nxt = None
        if index + 1 < len(STOP_PHASES):
            nxt = run.stop_at + min(timing.stop_phase_seconds[index + 1], run.grace or 0.0)
        return run._replace(status=status, next_at=nxt), Effect(at=at, status=status)
    if run.phase < RUNNING:
        return _start_phase(run, at, timing, gate)
    if run.evaluating is not None:
        return _evaluate(run, at, timing, r, seed)
    step = run.global_step + 1
    if step == 1 and (problem := gate.memory_problem()):
        return _failed(run, at, problem, exit_code=137)
    if step == run.restart_step:
        resume = (run.global_step // r.checkpoint_every) * r.checkpoint_every
        return (run._replace(status="run_restart_requested", phase=START_PHASES.index("job_pending"),
                        global_step=resume, restart_step=None, next_at=at + timing.phase_seconds[2]),
                Effect(at=at, status="run_restart_requested",
                       details={"reason": "the node running the job was lost", "resume_from_step": resume}))
    logged = step % r.log_every == 0 or step in (1, r.nan_step)  # the step whose loss is NaN logs the null
    metrics = training.training_metrics(r, step, seed) if logged else {}
    if step == r.nan_step:
        return _failed(run, at, f"training diverged: the loss is not a number at step {step} (learning rate "
                                f"{r.learning_rate:g} is too high for {r.model})", step, metrics, global_step=step)
    if step == run.fail_step:
        return _failed(run, at, FAILURE_WORDS.get(timing.fail_cause, FAILURE_WORDS["process"]).format(step=step),
                       step, metrics)
    validates = step % r.evaluate_every == 0 or step >= run.total_steps
    effect = Effect(at=at, global_step=step, metrics=metrics, complete_checkpoints=True)
    if step == run.stall_step and step < run.total_steps:  # a hung process: still running, never moving again
        return run._replace(global_step=step, evaluating=None, next_at=None), effect
    return run._replace(global_step=step, evaluating=0 if validates else None,
                   next_at=at + (timing.step_seconds / 4 if validates else timing.step_seconds)), effect


def _start_phase(run: RunClock, at: float, timing: LifecycleTiming, gate: Admission) -> tuple[RunClock, Effect]:
    status = START_PHASES[run.phase]
    if status == "job_created" and (problem := gate.create_problem()):
        return run._replace(status="job_create_failed", next_at=None), Effect(
            at=at, status="job_create_failed", details={"reason": problem})
    if status == "job_pending" and (waiting := gate.shortage()):
        # It waits, with no transition due: a run that ends frees GPUs and wakes it (the store's job).
        return run._replace(status=status, phase=run.phase + 1, next_at=None, waiting=waiting), Effect(
            at=at, status=status, details={"reason": waiting})
    if status == "job_running":
        if waiting := gate.take_gpus():  # other runs took them meanwhile: it waits, and says why
            return run._replace(status="job_pending", next_at=None, waiting=waiting), Effect(
                at=at, status="job_pending", details={"reason": waiting})
        if problem := gate.start_problem():
            return _failed(run, at, problem)
    phase = run.phase + 1
    nxt = at + (timing.phase_seconds[phase] if phase < RUNNING else timing.step_seconds)
    return run._replace(status=status, phase=phase, next_at=nxt, waiting=None), Effect(at=at, status=status)


def _evaluate(run: RunClock, at: float, timing: LifecycleTiming, r: training.Recipe,
              seed: str) -> tuple[RunClock, Effect]:
    """A validation pass in the first half of the step after an epoch's last: half way (two progress operations at
    once), then its results, all at the epoch's last step, and a checkpoint, uploaded by the time of the next step."""
    step = run.global_step
    if run.evaluating == 0:
        return (run._replace(evaluating=max(1, r.eval_batches // 2), next_at=at + timing.step_seconds / 4),
                Effect(at=at, progress=True))
    done = step >= run.total_steps
    effect = Effect(at=at, global_step=step, metrics=training.validation_metrics(r, step, seed),
                    checkpoint=step % r.checkpoint_every == 0 or done, status="job_completed" if done else None)
    return run._replace(evaluating=None, status="job_completed" if done else run.status,
                   next_at=None if done else at + timing.step_seconds / 2), effect
