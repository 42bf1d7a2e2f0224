"""Carry out a plan: stops and deletes first, then creates; bounded concurrency; every outcome reported.

A create is never repeated blindly: when its answer is lost (or a gateway failed), the run is looked
up by its address and the spec hash in its ownership marker before anything is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import assert_never

from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.errors import (
    ChariotError,
    ConflictError,
    RateLimitedError,
    RunDoesNotExistError,
    ServerError,
    TransportError,
    WriteOutcomeUnknownError,
)
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import Model, Run
from chariot_apply.diagnostics import hints
from chariot_apply.plan.fetch import runs_named
from chariot_apply.plan.live import RunKey, oldest_first, runs_by_address
from chariot_apply.plan.model import (
    Change,
    Create,
    Delete,
    DeleteCheckpoints,
    Plan,
    Promote,
    Replace,
    RunRequest,
    Stop,
    phase_of,
)
from chariot_apply.plan.ownership import Marker, compose_notes, parse_notes
from chariot_apply.plan.sensitive import scrub
from chariot_apply.runtime.concurrency import Bounded

#: Errors after which a create may or may not have happened: look before sending it again.
UNCERTAIN = (WriteOutcomeUnknownError, ServerError, RateLimitedError)
#: After this many creates in a row failed to reach Chariot at all, the rest are not attempted.
UNREACHABLE_AFTER = 3


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
    #: Models whose create may still commit (project id, name, version): remembered, so that no plan promotes
    #: them again meanwhile (``pending``).
    pending_models: tuple[tuple[str, str, str], ...] = ()

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def ok(self) -> bool:
        return not self.failed


class Reporter:
    """What an apply tells as it goes. Every hook does nothing here: a reporter overrides what it shows
    (like resolvelib's ``BaseReporter``), so adding a hook never breaks one."""

    def finished(self, outcome: Outcome) -> None:
        """A change ended, well or not."""


@dataclass
class Executor:
    """Carries out one plan. ``apply_id`` goes into the marker of every run this apply creates, so that
    when another apply races it at the same addresses each removes only its own duplicates."""

    client: Backend
    reporter: Reporter
    concurrency: int = 16
    create_attempts: int = 3
    retry_delay: float = 0.5
    #: After an uncertain create finds nothing, look once more this much later before sending it again:
    #: a slow server may commit a write after the client gave up on its answer.
    settle_delay: float = 2.0
    grace_period: timedelta | None = None  # None: the service's default (10 minutes)
    apply_id: str = field(default_factory=lambda: secrets.token_hex(6))
    #: The pull request whose merge this apply carries out (the Action): recorded in the runs it creates, so that
    #: their results are reported back on it; by address where a catch-up applies several pull requests' changes.
    pull_request: int | None = None
    pull_requests: Mapping[str, int] = field(default_factory=dict)
    _unreached: int = field(default=0, init=False)  # creates in a row that could not reach Chariot
    _pending_models: list[tuple[str, str, str]] = field(default_factory=list, init=False)

    async def apply(self, plan: Plan) -> ApplyResult:
        bound = Bounded(self.concurrency)
        outcomes, replaced = await self._removals(plan, bound)
        outcomes += await self._creations([*(c for c in plan.changes if isinstance(c, Create)), *replaced], bound)
        outcomes += await self._promotions(plan, bound)
        return ApplyResult(tuple(outcomes), tuple(self._pending_models))

    async def _removals(self, plan: Plan, bound: Bounded) -> tuple[list[Outcome], list[Replace]]:
        """Stops, deletes and checkpoint deletions, and the old runs of replaces: (what they came to, the replaces
        whose old run is gone, to be created now)."""
        removals = [c for c in plan.changes if isinstance(c, Stop | Delete | Replace | DeleteCheckpoints)]
        removed = await bound.all(self._attempt(c, self._remove) for c in removals)
        outcomes: list[Outcome] = []
        replaced: list[Replace] = []
        for removal, outcome in zip(removals, removed, strict=True):
            if isinstance(removal, Replace) and outcome.ok:
                replaced.append(removal)  # its old run is gone: now create the new one
            else:
                outcomes.append(outcome)
                self.reporter.finished(outcome)
        return outcomes, replaced

    async def _creations(self, creations: Sequence[Create | Replace], bound: Bounded) -> list[Outcome]:
        """The creates, each looked for first (another apply may have made it since the plan), then our own
        duplicates of a race removed."""
        live = await runs_at(self.client, [c.run for c in creations], bound)
        outcomes: list[Outcome] = []
        to_create: list[Create | Replace] = []
        for change in creations:
            skipped = _already_there(change, _not_attempts(change, live.get(_key(change.run), [])))
            if skipped is None:
                to_create.append(change)
            else:
                outcomes.append(skipped)
                self.reporter.finished(skipped)
        outcomes += await bound.all(self._attempt(c, self._create, report=True) for c in to_create)
        return outcomes + await self._remove_own_duplicates(to_create, bound)

    async def _promotions(self, plan: Plan, bound: Bounded) -> list[Outcome]:
        """The models, each made once; one another apply made at the same time is reported."""
        promotions = [c for c in plan.changes if isinstance(c, Promote)]
        promoted = await bound.all(self._attempt(c, self._promote, report=True) for c in promotions)
        made = [c for c, o in zip(promotions, promoted, strict=True) if o.ok]
        return promoted + [o for o in await bound.all(self._model_made_twice(c) for c in made) if o is not None]

    async def _attempt(self, change: Change, step: Callable[[Change], Awaitable[Outcome]],
                       report: bool = False) -> Outcome:
        try:
            if self._unreached >= UNREACHABLE_AFTER:
                raise TransportError("not attempted: Chariot could not be reached for the changes before it")
            outcome = await step(change)
            self._unreached = 0
        except ChariotError as exc:
            if type(exc) is TransportError:
                self._unreached += 1
            detail = str(exc)
            if isinstance(change, Create | Replace):  # a refused create may quote the config: never its secrets
                detail = scrub(detail, change.run.config, change.sensitive)
            outcome = Outcome(change.address, change.kind, False, detail, hint=exc.hint)
        if report:
            self.reporter.finished(outcome)
        return outcome

    async def _remove(self, change: Change) -> Outcome:
        match change:
            case Stop():
                if change.rule and (gone := await self._already_ended(change)) is not None:
                    return gone
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
            case DeleteCheckpoints():
                doomed = await self._still_unused(change)
                if doomed:
                    await self.client.delete_checkpoints(ids=doomed)
                kept = len(change.checkpoint_ids) - len(doomed)
                return Outcome(change.address, change.kind, True, f"deleted {len(doomed)} checkpoint(s)" + (
                    f"; kept {kept} a model was made from since the plan" if kept else ""), change.live.id)
            case Create() | Promote():
                raise AssertionError("creates and promotions are not removals")
            case _:
                assert_never(change)

    async def _already_ended(self, change: Stop) -> Outcome | None:
        """A lifecycle stop is looked before it is sent: another writer may have stopped the run since the plan
        (the outcome, then; None: it is still active)."""
        try:
            status = (await self.client.get_run(change.live.id, ["status"])).status
        except RunDoesNotExistError:
            return Outcome(change.address, "stop", True, "was already gone", change.live.id)
        if phase_of(status) == "active":
            return None
        return Outcome(change.address, "stop", True, f"already {status}: no stop sent", change.live.id)

    async def _still_unused(self, change: DeleteCheckpoints) -> list[str]:
        """The checkpoints of ``change`` no model has been made from, looked at again now: retention never deletes
        a checkpoint a model came from, whoever made the model since the plan."""
        if not change.model_projects or not self.client.lists_models:
            return list(change.checkpoint_ids)
        models = await self.client.get_models(project_ids=list(change.model_projects))
        used = {m.checkpoint_id for m in models if m.checkpoint_id}
        return [c for c in change.checkpoint_ids if c not in used]

    async def _promote(self, change: Change) -> Outcome:
        """Make the model, once: an uncertain answer is looked up (by name, version and our marker) before the
        create is sent again."""
        assert isinstance(change, Promote)
        done = f"model {change.model_name}@{change.model_version} made from checkpoint step {change.global_step}"

        async def send() -> str:
            return await self.client.create_model_from_checkpoint(
                checkpoint_id=change.checkpoint_id, name=change.model_name, version=change.model_version,
                summary=change.summary, project_id=change.model_project_id)

        async def find() -> str | None:
            return next((m.id for m in await self._models_at(change)), None)

        made = await find()  # another writer may have made it since the plan: never a second one
        if made is not None:
            return Outcome(change.address, change.kind, True, f"{done} already [{made}]: another writer made it "
                           "since the plan", change.live.id)
        try:
            model_id, found = await self._once(send, find, resend=False)
        except WriteOutcomeUnknownError:
            self._pending_models.append((change.model_project_id, change.model_name, change.model_version))
            raise
        how = " (its answer was lost; found it)" if found else ""
        return Outcome(change.address, change.kind, True, f"{done} [{model_id}]{how}", change.live.id)

    async def _models_at(self, change: Promote) -> list[Model]:
        models = await self.client.get_models(project_ids=[change.model_project_id], names=[change.model_name],
                                              versions=[change.model_version])
        return [m for m in models if m.summary == change.summary]

    async def _model_made_twice(self, change: Promote) -> Outcome | None:
        """Models cannot be deleted through the SDK, so one made twice (by two applies at once) is only reported,
        with what to do; ``None`` where there is one, as there should be (or where the look fails: the model
        was made, and the next plan looks again)."""
        try:
            models = await self._models_at(change)
        except ChariotError:
            return None
        models.sort(key=lambda m: (m.created_at.isoformat() if m.created_at else "~", m.id))
        if len(models) < 2:
            return None
        outcome = Outcome(change.address, "dedupe", False,
                       f"model {change.model_name}@{change.model_version} exists {len(models)} times "
                       f"({', '.join(m.id for m in models)}): another apply made it at the same time",
                       change.live.id, hint=f"keep {models[0].id} (the oldest) and delete the others in Chariot; "
                                            "chariot-apply cannot delete models")
        self.reporter.finished(outcome)
        return outcome

    async def _create(self, change: Change) -> Outcome:
        assert isinstance(change, Create | Replace)
        run_id, how = await self._create_once(self._signed(change.run, change.address))
        detail = "created" if isinstance(change, Create) else "replaced (old run deleted, new run created)"
        return Outcome(change.address, change.kind, True, detail + how, run_id)

    def _signed(self, request: RunRequest, address: str) -> RunRequest:
        """``request`` with this apply's id in its marker."""
        user_notes, marker = parse_notes(request.notes)
        if marker is None:
            return request
        return request.model_copy(update={"notes": compose_notes(user_notes, self._mine(marker, address))})

    def _mine(self, marker: Marker, address: str) -> Marker:
        """``marker`` as this apply writes it: its id, and the pull request whose change it carries out."""
        return replace(marker, apply=self.apply_id, pull_request=self.pull_requests.get(address, self.pull_request))

    async def _create_once(self, request: RunRequest) -> tuple[str, str]:
        async def send() -> str:
            return await self.client.create_run(
                name=request.name, version=request.version, resources=request.resources, config=request.config,
                task_type=request.task_type, blueprint_id=request.blueprint_id, project_id=request.project_id,
                notes=request.notes)

        run_id, found = await self._once(send, lambda: find_created(self.client, request))
        return run_id, " (its answer was lost; found it by its marker)" if found else ""

    async def _once(self, send: Callable[[], Awaitable[str]], find: Callable[[], Awaitable[str | None]], *,
                    resend: bool = True) -> tuple[str, bool]:
        """A write that must happen once (a run, a model): (its id, whether it was found rather than answered).

        After an uncertain answer it may have happened: look (now, and again a little later for a server that
        commits late) before it is ever sent again. Refused before anything was sent: it did not happen.
        ``resend=False`` (models: a second one can never be deleted through the SDK) never sends it again after an
        uncertain answer: not found by then, its outcome is unknown, and the next plan looks again."""
        for attempt in range(self.create_attempts):
            try:
                return await send(), False
            except UNCERTAIN as exc:
                for wait in (0.0, self.settle_delay):
                    await asyncio.sleep(wait)
                    found = await find()
                    if found is not None:
                        return found, True
                if not resend:
                    raise WriteOutcomeUnknownError(
                        f"outcome unknown: the create was sent, its answer was lost ({exc.message}), and after "
                        f"{self.settle_delay:g} s it is not there yet; not sent again, since it may still commit",
                        hint=f"run {hints.PLAN.cited()} in a minute: it finds the model if it was made, and "
                             "promotes it again if it was not") from None
                if attempt + 1 == self.create_attempts:
                    raise
            except TransportError:
                if attempt + 1 == self.create_attempts:
                    raise
            await asyncio.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")

    async def _remove_own_duplicates(self, created: Sequence[Create | Replace], bound: Bounded) -> list[Outcome]:
        """Where several runs of ours with one spec stand at an address, *the* run is the oldest; delete the
        others that this apply created (another apply removes its own). Returns what was done."""
        if not created:
            return []
        live = await runs_at(self.client, [c.run for c in created], bound)
        doomed: list[tuple[Create | Replace, Run, Run]] = []
        for change in created:
            _, wanted = parse_notes(change.run.notes)
            if wanted is None:
                continue
            mine = self._mine(wanted, change.address)
            same = [r for r in _not_attempts(change, live.get(_key(change.run), []))
                    if wanted.same_run(parse_notes(r.notes)[1])]
            doomed += [(change, same[0], other) for other in same[1:] if parse_notes(other.notes)[1] == mine]
        return await bound.all(self._attempt(change, _deleter(self.client, keeper, extra), report=True)
                               for change, keeper, extra in doomed)


def _deleter(client: Backend, keeper: Run, extra: Run) -> Callable[[Change], Awaitable[Outcome]]:
    async def delete(change: Change) -> Outcome:
        with contextlib.suppress(RunDoesNotExistError):  # gone already: as good
            await client.delete_run(extra.id or "")
        return Outcome(change.address, "dedupe", True, f"another apply created this run at the same time; kept "
                       f"{keeper.id}, deleted ours {extra.id}", keeper.id)
    return delete


def _not_attempts(change: Create | Replace, runs: Sequence[Run]) -> list[Run]:
    """``runs`` without the failed attempts a retry follows (kept at the address; never taken for the new run)."""
    kept = {a.id for a in change.attempts} if isinstance(change, Create) else set()
    return [r for r in runs if r.id not in kept]


def _key(request: RunRequest) -> RunKey:
    return request.project_id, request.name, request.version


def _already_there(change: Create | Replace, runs: Sequence[Run]) -> Outcome | None:
    """An outcome instead of a create, when the address is no longer empty (another apply got there first)."""
    _, wanted = parse_notes(change.run.notes)
    for run in runs:
        marker = parse_notes(run.notes)[1]
        if wanted is not None and wanted.same_run(marker):
            return Outcome(change.address, change.kind, True,
                           "already exists: another apply created it since the plan was made", run.id)
    if runs:
        return Outcome(change.address, change.kind, False, f"run {runs[0].id} was created here by someone else "
                       "since the plan was made; nothing was created", runs[0].id,
                       hint=f"run {hints.PLAN.cited()} again and review it")
    return None


async def runs_at(client: Backend, requests: Sequence[RunRequest],
                  bound: Bounded) -> dict[RunKey, list[Run]]:
    """The live runs at the addresses of ``requests``, oldest first, in batched look-ups (as the plan makes)."""
    if not requests:
        return {}
    keys = {_key(r) for r in requests}
    return {k: v for k, v in runs_by_address(await runs_named(client, {r.name for r in requests}, bound)).items()
            if k in keys}


async def find_created(client: Backend, request: RunRequest) -> str | None:
    """The id of the run ``request`` created, if it exists: same address, same marker (our owner, this spec,
    this apply)."""
    _, ours = parse_notes(request.notes)
    runs = await client.get_runs(project_ids=[request.project_id], name_ilikes=[escape_ilike(request.name)],
                                 versions=[request.version], limit=100)
    for run in oldest_first(runs):
        if run.name == request.name and ours is not None and parse_notes(run.notes)[1] == ours:
            return run.id
    return None
