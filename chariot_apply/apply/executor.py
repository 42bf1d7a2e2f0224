"""Carry out a plan: stops and deletes first, then creates; bounded concurrency; every outcome reported.

A create is never repeated blindly: when its answer is lost (or a gateway failed), the run is looked
up by its address and the spec hash in its ownership marker before anything is sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import assert_never

from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.chariot.errors import (
    ChariotError,
    ConflictError,
    RateLimitedError,
    RunDoesNotExistError,
    ServerError,
    TransportError,
)
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.plan.fetch import Bounded
from chariot_apply.plan.model import Change, Create, Delete, Plan, Replace, RunRequest, Stop
from chariot_apply.plan.ownership import parse_notes

#: Errors after which a create may or may not have happened (or may succeed if tried again).
UNCERTAIN = (TransportError, ServerError, RateLimitedError)


@dataclass(frozen=True)
class Outcome:
    address: str
    kind: str
    ok: bool
    detail: str
    run_id: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def ok(self) -> bool:
        return not self.failed


class Reporter:
    """What an apply tells as it goes. Every hook does nothing here: a reporter overrides what it shows
    (like resolvelib's ``BaseReporter``), so adding a hook never breaks one."""

    def started(self, change: Change) -> None:
        """``change`` is about to be carried out."""

    def finished(self, outcome: Outcome) -> None:
        """A change ended, well or not."""


@dataclass
class Executor:
    client: AsyncChariotClient
    reporter: Reporter
    concurrency: int = 16
    create_attempts: int = 3
    retry_delay: float = 0.5
    grace_period: timedelta | None = None  # None: the service's default (10 minutes)

    async def apply(self, plan: Plan) -> ApplyResult:
        bound = Bounded(self.concurrency)
        removals = [c for c in plan.changes if isinstance(c, Stop | Delete | Replace)]
        for change in plan.changes:
            self.reporter.started(change)
        removed = await bound.all(self._attempt(c, self._remove) for c in removals)
        outcomes = []
        creations: list[Change] = [c for c in plan.changes if isinstance(c, Create)]
        for change, outcome in zip(removals, removed, strict=True):
            if isinstance(change, Replace) and outcome.ok:
                creations.append(change)  # its old run is gone: now create the new one
            else:
                outcomes.append(outcome)
                self.reporter.finished(outcome)
        for outcome in await bound.all(self._attempt(c, self._create, report=True) for c in creations):
            outcomes.append(outcome)
        return ApplyResult(tuple(outcomes))

    async def _attempt(self, change: Change, step: Callable[[Change], Awaitable[Outcome]],
                       report: bool = False) -> Outcome:
        try:
            outcome = await step(change)
        except ChariotError as exc:
            outcome = Outcome(change.address, change.kind, False, str(exc), hint=exc.hint)
        if report:
            self.reporter.finished(outcome)
        return outcome

    async def _remove(self, change: Change) -> Outcome:
        match change:
            case Stop():
                try:
                    await self.client.stop_run(change.live.id, self.grace_period)
                except ConflictError:
                    return Outcome(change.address, "stop", True, "had already finished", change.live.id)
                except RunDoesNotExistError:
                    return Outcome(change.address, "stop", True, "was already gone", change.live.id)
                return Outcome(change.address, "stop", True, "stop requested", change.live.id)
            case Delete() | Replace():
                try:
                    await self.client.delete_run(change.live.id)
                except RunDoesNotExistError:
                    return Outcome(change.address, change.kind, True, "was already gone", change.live.id)
                return Outcome(change.address, change.kind, True, "deleted", change.live.id)
            case Create():
                raise AssertionError("creates are not removals")
            case _:
                assert_never(change)

    async def _create(self, change: Change) -> Outcome:
        assert isinstance(change, Create | Replace)
        run_id, how = await self._create_once(change.run)
        detail = "created" if isinstance(change, Create) else "replaced (old run deleted, new run created)"
        return Outcome(change.address, change.kind, True, detail + how, run_id)

    async def _create_once(self, request: RunRequest) -> tuple[str, str]:
        for attempt in range(self.create_attempts):
            try:
                run_id = await self.client.create_run(
                    name=request.name, version=request.version, resources=request.resources,
                    config=request.config, task_type=request.task_type, blueprint_id=request.blueprint_id,
                    project_id=request.project_id, notes=request.notes)
                return run_id, ""
            except UNCERTAIN:
                found = await find_created(self.client, request)
                if found is not None:
                    return found, " (its answer was lost; found it by its marker)"
                if attempt + 1 == self.create_attempts:
                    raise
                await asyncio.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")


async def find_created(client: AsyncChariotClient, request: RunRequest) -> str | None:
    """The id of the run ``request`` created, if it exists: same address, same marker (our owner, this spec)."""
    _, ours = parse_notes(request.notes)
    runs = await client.get_runs(project_ids=[request.project_id], name_ilikes=[escape_ilike(request.name)],
                                 versions=[request.version], limit=100)
    for run in runs:
        if run.name == request.name and ours is not None and parse_notes(run.notes)[1] == ours:
            return run.id
    return None
