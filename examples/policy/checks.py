"""Your own checks over a plan, as a step after `chariot-apply plan --format json` (the document follows
schemas/plan.schema.json). Each check takes the document and yields what it refuses; the script prints them and
exits 1 if there is any. Copy it, change the checks, and run it in your workflow:

    chariot-apply plan --format json > plan.json
    python examples/policy/checks.py plan.json

Standard library only: it runs wherever Python does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Document = dict[str, Any]
#: Our checks, in order; each yields a refusal as text.
CHECKS: list[Callable[[Document], Iterator[str]]] = []


def check(function: Callable[[Document], Iterator[str]]) -> Callable[[Document], Iterator[str]]:
    CHECKS.append(function)
    return function


def creates(document: Document) -> Iterator[dict[str, Any]]:
    """The runs the plan would create (declared or lifecycle), with what they ask for."""
    for item in document["plan"]["items"]:
        if item["kind"] in ("create", "replace"):
            yield item


@check
def h100_only_for_llm_projects(document: Document) -> Iterator[str]:
    """H100s are for the nlp project."""
    for item in creates(document):
        gpu = item["run"]["resources"].get("gpu")
        if gpu and gpu["type"] == "H100" and not item["address"].startswith("nlp/"):
            yield f"{item['address']}: H100s are for the nlp project"


@check
def at_most_twenty_creates(document: Document) -> Iterator[str]:
    """A plan creating many runs at once is split into several pull requests."""
    count = sum(1 for _ in creates(document))
    if count > 20:
        yield f"the plan creates {count} runs: split it (at most 20 a pull request)"


@check
def bounded_gpu_hours(document: Document) -> Iterator[str]:
    """Every run that adds GPUs says how long it may run (the footprint lists those that do not)."""
    for address in document["plan"]["footprint"]["unbounded"]:
        yield f"{address}: adds GPUs with no spec.limits.maxDuration"


@check
def no_high_risk_on_fridays(document: Document) -> Iterator[str]:
    """High-risk plans wait for Monday."""
    planned = (document["plan"].get("target") or {}).get("planned_at") or ""
    if document["plan"]["risk"]["level"] == "high" and planned:
        from datetime import datetime

        if datetime.fromisoformat(planned.replace("Z", "+00:00")).weekday() == 4:
            yield "high-risk plan on a Friday: " + "; ".join(document["plan"]["risk"]["reasons"])


def refusals(document: Document) -> list[str]:
    return [refusal for function in CHECKS for refusal in function(document)]


def main(argv: list[str]) -> int:
    text = Path(argv[1]).read_text("utf-8") if len(argv) > 1 and argv[1] != "-" else sys.stdin.read()
    found = refusals(json.loads(text))
    for refusal in found:
        print(f"refused: {refusal}")
    print(f"{len(CHECKS)} checks, {len(found)} refusal(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
