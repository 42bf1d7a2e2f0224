"""What a declared run's rules call for as it trains: its limits, its retries, and whether what it depends on has
finished. Pure: the time is the one the live state was fetched at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from chariot_apply.chariot.models import Event, Run
from chariot_apply.manifest.duration import format_duration, parse_duration_text
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.causes import cause_of
from chariot_apply.plan.harvest import Harvest
from chariot_apply.plan.ownership import parse_notes

#: What an upstream run ends as for what depends on it to be created.
USABLE_ENDS = frozenset({"job_completed", "job_terminated"})
#: Ends after which what depends on it is never created (unless a retry is due).
FAILED_ENDS = frozenset({"job_failed", "job_create_failed"})


@dataclass(frozen=True)
class LimitCall:
    """A limit that a live run is past: stop it, or recreate it (a stall with ``action: recreate``)."""

    action: Literal["stop", "recreate"]
    rule: str
    reason: str


def past_limit(run: DeclaredRun, live: Run, now: datetime | None) -> LimitCall | None:
    """The first of ``spec.limits`` that ``live`` (an active run) is past at ``now``, if any."""
    limits = run.spec.limits
    if limits is None or now is None:
        return None
    if limits.max_duration is not None and live.created_at is not None:
        ran = (now - live.created_at).total_seconds()
        allowed = parse_duration_text(limits.max_duration)
        if ran > allowed:
            return LimitCall("stop", f"spec.limits.maxDuration: {limits.max_duration}",
                             f"it has run {format_duration(ran)}, past spec.limits.maxDuration {limits.max_duration}")
    stall = limits.stall
    if stall is not None and live.status == "job_running":
        since = live.progress_updated_at or live.status_updated_at
        if since is not None:
            idle = (now - since).total_seconds()
            if idle > parse_duration_text(stall.no_progress_for):
                step = f" at step {live.progress[0].value:,}" if live.progress and live.progress[0].value else ""
                return LimitCall(stall.action, f"spec.limits.stall: noProgressFor {stall.no_progress_for}, "
                                 f"action {stall.action}",
                                 f"its progress has not moved for {format_duration(idle)}{step} (stalled)")
    return None


@dataclass(frozen=True)
class Retry:
    """The next attempt of a run whose every attempt failed, or why there is none."""

    attempt: int  # the number of the attempt to make (2 after one failure)
    allowed: int  # 1 + maxRetries
    after: Run  # the failed attempt it follows (the newest)
    resume_from: tuple[str, int] | None = None  # (checkpoint id, step) it starts from
    cause: str = "failed"  # or "stalled": stopped by its stall rule

    @property
    def exhausted(self) -> bool:
        return self.attempt > self.allowed

    def words(self) -> str:
        resume = f", resuming from step {self.resume_from[1]:,}" if self.resume_from else ""
        return f"attempt {self.attempt} of {self.allowed}{resume}"


def failed_attempts(run: DeclaredRun, owned: Sequence[Run]) -> list[Run]:
    """The runs of ours at the address kept as attempts (oldest first): the failed ones ``onFailure: recreate``
    retries, and those a stall's ``action: recreate`` stopped (``stalled_attempt``); none of a kind whose rule
    leaves the run as it is."""
    if run.spec.state != "running":
        return []
    retried = run.spec.on_failure.action == "recreate"
    return [r for r in owned if (retried and r.status == "job_failed") or stalled_attempt(run, r)]


def stalled_attempt(run: DeclaredRun, live: Run) -> bool:
    """Whether ``live`` is a run its stall rule stopped to recreate it: stopped (``job_terminated``) after its
    progress had not moved for the rule's time, and not at its maxDuration (a limit that only stops). A pure
    function of the run itself, so that it holds whoever stopped it and however many plans ago."""
    limits = run.spec.limits
    stall = limits.stall if limits is not None else None
    if stall is None or stall.action != "recreate" or live.status != "job_terminated":
        return False
    ended, since = live.status_updated_at, live.progress_updated_at
    if ended is None or since is None or live.created_at is None:
        return False
    if limits is not None and limits.max_duration is not None and \
            (ended - live.created_at).total_seconds() >= parse_duration_text(limits.max_duration):
        return False
    return (ended - since).total_seconds() > parse_duration_text(stall.no_progress_for)


def of_spec(attempts: Sequence[Run], spec_hash: str) -> list[Run]:
    """The attempts made of this spec: an older spec's are history, not attempts."""
    return [r for r in attempts if (m := parse_notes(r.notes)[1]) is not None and m.spec == spec_hash]


def next_retry(run: DeclaredRun, attempts: Sequence[Run], spec_hash: str,
               harvest: dict[str, Harvest] | None = None) -> Retry | None:
    """The next attempt after ``attempts`` (the failed runs of this spec count; an older spec's are history), or
    None when none of them is of this spec (a create of a new spec, not a retry)."""
    same = of_spec(attempts, spec_hash)
    if not same:
        return None
    policy = run.spec.on_failure
    stall = run.spec.limits.stall if run.spec.limits is not None else None
    if same[-1].status == "job_terminated" and stall is not None:  # a stall's recreate: its own count and limit
        stopped = [r for r in same if r.status == "job_terminated"]
        return Retry(attempt=len(stopped) + 1, allowed=stall.max_retries + 1, after=same[-1],
                     resume_from=_resume(policy.resume, stopped, harvest), cause="stalled")
    return Retry(attempt=len(same) + 1, allowed=policy.max_retries + 1, after=same[-1],
                 resume_from=_resume(policy.resume, same, harvest))


def _resume(resume: str, attempts: Sequence[Run], harvest: dict[str, Harvest] | None) -> tuple[str, int] | None:
    """The newest complete checkpoint of the attempts, where the rule says to resume from it."""
    if resume != "lastCheckpoint":
        return None
    for failed in reversed(attempts):  # the newest attempt that left a complete checkpoint
        complete = (harvest or {}).get(failed.id or "", Harvest()).complete()
        if complete:
            return complete[-1].id or "", complete[-1].global_step or 0
    return None


@dataclass(frozen=True)
class RetryGate:
    """What a failure's rule says of the retry now: ``retry`` (its cause named), ``wait`` until ``due`` (the
    backoff, by the server's clock), or ``refuse`` (a cause not retried, or a run that thrashes)."""

    verdict: Literal["retry", "wait", "refuse"]
    cause: str
    words: str  # the cause and the failure's own reason, short
    due: datetime | None = None
    why: str = ""


def retry_gate(run: DeclaredRun, retry: Retry, attempts: Sequence[Run], last_event: Event | None,
               now: datetime | None) -> RetryGate:
    """The cause of the failure ``retry`` follows (its last event, ``causes.cause_of``) against ``spec.onFailure``:
    ``retryOn``/``except``, then ``thrash`` (too many failures too fast), then ``backoff``. Pure; without a time
    (``now`` None) nothing is measured."""
    policy = run.spec.on_failure
    cause = cause_of(last_event)
    reason = str((last_event.details or {}).get("reason", "")) if last_event is not None else ""
    words = cause + (f": {reason[:100]}" if reason else "")
    if not policy.retries(cause):
        listed = f"except {list(policy.except_)}" if cause in policy.except_ else \
            f"retryOn {list(policy.retry_on or ())}"
        return RetryGate("refuse", cause, words, why=f"spec.onFailure does not retry a {cause} failure ({listed})")
    if now is None:
        return RetryGate("retry", cause, words)
    failed = [a for a in attempts if a.status == "job_failed" and a.status_updated_at is not None]
    if policy.thrash is not None:
        window = parse_duration_text(policy.thrash.within)
        recent = [a for a in failed if (now - a.status_updated_at).total_seconds() <= window]  # type: ignore[operator]
        if len(recent) >= policy.thrash.failures:
            return RetryGate("refuse", cause, words, why=f"it failed {len(recent)} times within "
                             f"{policy.thrash.within} (spec.onFailure.thrash): not retried until it is fixed")
    ended = retry.after.status_updated_at
    if policy.backoff is not None and ended is not None:
        delay = parse_duration_text(policy.backoff.initial) * policy.backoff.factor ** max(0, retry.attempt - 2)
        if policy.backoff.max is not None:
            delay = min(delay, parse_duration_text(policy.backoff.max))
        due = ended + timedelta(seconds=delay)
        if now < due:
            return RetryGate("wait", cause, words, due=due,
                             why=f"spec.onFailure.backoff: {format_duration(delay)} after that failure")
    return RetryGate("retry", cause, words)


def retry_rule(run: DeclaredRun, cause: str = "failed") -> str:
    policy = run.spec.on_failure
    stall = run.spec.limits.stall if run.spec.limits is not None else None
    if cause == "stalled" and stall is not None:
        return f"spec.limits.stall: noProgressFor {stall.no_progress_for}, action recreate, maxRetries " \
               f"{stall.max_retries}"
    return f"spec.onFailure: recreate, maxRetries {policy.max_retries}, resume {policy.resume}"


@dataclass(frozen=True)
class Upstream:
    """Whether what a run depends on lets it be created: ``ready`` (with the upstream's run), ``waiting`` or
    ``failed``, and the words for the plan."""

    state: Literal["ready", "waiting", "failed"]
    words: str
    live: Run | None = None


def upstream_state(address: str, declared: DeclaredRun, current: Run | None, attempts: Sequence[Run]) -> Upstream:
    """What the upstream at ``address`` is, for what depends on it."""
    if current is not None:
        status = current.status or "unknown"
        if status in USABLE_ENDS:
            return Upstream("ready", f"{address} ({status})", current)
        if status in FAILED_ENDS:
            return Upstream("failed", f"{address} ended {status}")
        progress = current.progress[0] if current.progress else None
        step = (f", step {progress.value:,} of {progress.final_value:,}"
                if progress is not None and progress.value is not None else "")
        return Upstream("waiting", f"{address} ({status}{step})")
    if declared.spec.state != "running":
        return Upstream("failed", f"{address} is declared {declared.spec.state}: it will not run")
    if attempts:
        if len(attempts) <= declared.spec.on_failure.max_retries:
            return Upstream("waiting", f"{address} (failed; spec.onFailure recreates it)")
        return Upstream("failed", f"{address} failed {len(attempts)} time(s), its retries are used up")
    return Upstream("waiting", f"{address} (not created yet)")
