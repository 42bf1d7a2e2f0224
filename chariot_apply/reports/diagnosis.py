"""What ``doctor`` found: each check with its outcome, and what was asked and answered where it failed. A value of
its own, so that ``render/doctor.py`` needs neither the client nor the checks that fill it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str = ""
    request: str | None = None  # method and path (REST), or the SDK call
    request_id: str | None = None
    answer: str | None = None  # status and what came back
    hint: str | None = None


@dataclass
class Report:
    server: str
    backend: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.outcome != "failed" for c in self.checks)
