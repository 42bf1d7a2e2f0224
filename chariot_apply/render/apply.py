"""An apply's closing summary as text: one line for what was done, then each failure with its hint."""

from __future__ import annotations

from dataclasses import dataclass

from chariot_apply.apply.executor import ApplyResult


@dataclass(frozen=True)
class ApplySummary:
    line: str  # for standard output
    errors: tuple[str, ...]  # "Error: ..." and "Hint: ..." lines, for standard error


def apply_summary(result: ApplyResult, *, interrupted: bool = False) -> ApplySummary:
    done: dict[str, int] = {}
    for outcome in result.outcomes:
        if outcome.ok:
            done[outcome.kind] = done.get(outcome.kind, 0) + 1
    parts = [f"{n} {k}" for k, n in sorted(done.items())]
    state = "interrupted" if interrupted else "complete" if result.ok else "incomplete"
    errors: list[str] = []
    for outcome in result.failed:
        errors.append(f"Error: {outcome.address}: {outcome.kind} failed: {outcome.detail}")
        if outcome.hint:
            errors.append(f"Hint: {outcome.hint}")
    if result.failed:
        errors.append("Hint: run `chariot-apply apply` again: it picks up where this one stopped.")
    return ApplySummary(f"Apply {state}: {', '.join(parts) or 'nothing done'}; {len(result.failed)} failed.",
                        tuple(errors))
