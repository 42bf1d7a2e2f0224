"""An apply's outcome, said once and drawn twice: ``summarize`` counts it (what was done by kind, what failed and
why), the command line prints it as a line and its errors, the Action as a markdown table. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chariot_apply.apply.executor import ApplyResult, Outcome
from chariot_apply.diagnostics import hints

State = Literal["complete", "incomplete", "interrupted"]


@dataclass(frozen=True)
class ApplySummary:
    state: State
    done: dict[str, int]  # what succeeded, by kind
    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def line(self) -> str:
        """``Apply complete: 2 create, 1 stop; 0 failed.``, for standard output."""
        parts = [f"{n} {kind}" for kind, n in sorted(self.done.items())]
        return f"Apply {self.state}: {', '.join(parts) or 'nothing done'}; {len(self.failed)} failed."

    @property
    def errors(self) -> tuple[str, ...]:
        """``Error: ...`` and ``Hint: ...`` lines, for standard error."""
        lines: list[str] = []
        for outcome in self.failed:
            lines.append(f"Error: {outcome.address}: {outcome.kind} failed: {outcome.detail}")
            if outcome.hint:
                lines.append(f"Hint: {outcome.hint}")
        if self.failed:
            lines.append(f"Hint: run {hints.APPLY.cited()} again: it picks up where this one stopped.")
        return tuple(lines)


def summarize(result: ApplyResult, *, interrupted: bool = False) -> ApplySummary:
    done: dict[str, int] = {}
    for outcome in result.outcomes:
        if outcome.ok:
            done[outcome.kind] = done.get(outcome.kind, 0) + 1
    state: State = "interrupted" if interrupted else "complete" if result.ok else "incomplete"
    return ApplySummary(state, done, result.outcomes)


CUT_NOTE = "\n_{} more outcome(s) cut to fit; every outcome is in the workflow run's step summary._\n"


def apply_markdown(summary: ApplySummary, header: str, limit: int | None = None, what: str = "apply") -> str:
    """The outcome as markdown (the Action's step summary and result comment): the counts first, then a row an
    outcome, failures first; past ``limit`` characters the rows are cut (never the counts), saying how many."""
    failed = len(summary.failed)
    head = (f"### chariot-apply: {what} {summary.state}\n\nApplied to {header}\n\n"
            f"**{len(summary.outcomes) - failed} done, {failed} failed.**\n\n")
    if not summary.outcomes:
        return head + "Nothing to do.\n"
    ordered = sorted(summary.outcomes, key=lambda o: o.ok)  # failures first: what needs a look
    rows = [f"| `{o.address}` | {o.kind} | {'✅' if o.ok else '❌'} {o.detail} | "
            f"{f'`{o.run_id}`' if o.run_id else ''} |\n" for o in ordered]
    table = "| run | action | outcome | run id |\n|---|---|---|---|\n"
    if limit is None or len(head) + len(table) + sum(map(len, rows)) <= limit:
        return head + table + "".join(rows)
    room = limit - len(head) - len(table) - len(CUT_NOTE) - 10
    kept: list[str] = []
    for row in rows:
        if room - len(row) < 0:
            break
        kept.append(row)
        room -= len(row)
    return head + table + "".join(kept) + CUT_NOTE.format(len(rows) - len(kept))


def wait_ended(until: str, statuses: Sequence[str | None]) -> str:
    """What ``apply --wait`` saw at the end, in the runs' own statuses: ``--until running`` is also met by a run that
    has already completed, and the line must not call it running."""
    counts = Counter(s or "no status" for s in statuses)
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if until == "running" and set(counts) == {"job_running"}:
        return f"Every run is running ({said})."
    reached = "started (running or finished)" if until == "running" else "finished"
    return f"Every run has {reached}: {said}." if statuses else "No run to wait for."
