"""How an apply looks on a terminal while it runs: each outcome, and an N/M count with the time so far."""

from __future__ import annotations

import time

import click

from chariot_apply.apply.executor import Outcome, Reporter
from chariot_apply.render.describe import outcome_line


class TerminalReporter(Reporter):
    """Prints each outcome as it comes with an N/M count and the time so far (on a terminal, a counter line kept
    at the bottom), and remembers the outcomes for a report if the apply is interrupted."""

    def __init__(self, color: bool, total: int, live: bool) -> None:
        self.color = color
        self.total = total
        self.live = live  # a terminal: the counter line is redrawn in place
        self.started_at = time.monotonic()
        self.outcomes: list[Outcome] = []

    def finished(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        line = outcome_line(outcome.address, outcome.kind, outcome.ok, outcome.detail, outcome.run_id)
        counter = f"[{len(self.outcomes)}/{self.total}] {time.monotonic() - self.started_at:.1f}s"
        if self.live:
            click.echo("\r\x1b[K", nl=False)
        click.secho(f"  {line}" if self.live else f"  {counter} {line}",
                    fg=None if outcome.ok or not self.color else "red", color=self.color)
        if self.live:
            click.echo(f"  {counter}", nl=False)

    def done(self) -> None:
        if self.live:
            click.echo("\r\x1b[K", nl=False)
