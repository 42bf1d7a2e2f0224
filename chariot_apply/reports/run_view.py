"""What ``status`` shows of a run, gathered by ``watch`` and drawn by ``render.status``: a value of its own, so
that the renderer needs neither the HTTP client nor the reads that fill it."""

from __future__ import annotations

from dataclasses import dataclass

from chariot_apply.chariot.models import Event, Run


@dataclass(frozen=True)
class RunView:
    """A run as ``status`` shows it."""

    run: Run
    project: str
    last_event: Event | None
    metrics: dict[str, float | int | None]  # the latest value of each tag

    @property
    def address(self) -> str:
        return f"{self.project}/{self.run.name}@{self.run.version}"
