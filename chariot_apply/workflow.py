"""The library's front door: what each command does, without arguments parsing, printing or exiting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from chariot_apply.apply.executor import ApplyResult, Executor, Reporter
from chariot_apply.apply.stale import stale_addresses
from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import Run
from chariot_apply.connect import Connection, connection
from chariot_apply.manifest.loader import load_manifests
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.project_file import PROJECT_FILE, ProjectFile, find_project_file, load_project_file
from chariot_apply.plan.fetch import Bounded, fetch_live_state, make_plan, plan_validated
from chariot_apply.plan.model import Plan, PlanOptions
from chariot_apply.plan.ownership import is_owned
from chariot_apply.render.document import PlanDocument


class UserInputError(ValueError):
    """Something in the inputs (flags, project file, action inputs) that the user must change."""


class StalePlanError(Exception):
    hint = "run `chariot-apply plan` again and review the new plan"

    def __init__(self, stale: list[str]) -> None:
        super().__init__("the plan is stale: runs it changes have changed since it was made:\n  "
                         + "\n  ".join(stale))


@dataclass(frozen=True)
class Workspace:
    """Where manifests are, who we are, and which Chariot to use."""

    project: ProjectFile
    connection: Connection
    paths: tuple[str, ...]

    def manifests(self) -> list[DeclaredRun]:
        return load_manifests(self.paths, self.project.project)


def open_workspace(files: Sequence[str] = (), *, config: Path | None = None, owner: str | None = None,
                   project: str | None = None, chariot_url: str | None = None,
                   env: Mapping[str, str] | None = None, need_manifests: bool = True) -> Workspace:
    """The project file (``config``, else the nearest upwards), overridden by ``env`` and then the arguments.

    Manifest paths from the project file are relative to it; ``files`` are relative to the working directory.
    """
    if config is not None and not config.is_file():
        raise UserInputError(f"no project file at {config}")
    path = config if config is not None else find_project_file(Path.cwd())
    settings, _ = load_project_file(path, env)
    overrides = {k: v for k, v in {"owner": owner, "project": project}.items() if v}
    if overrides:
        settings = settings.model_validate(settings.model_dump() | overrides)
    paths = tuple(files) or tuple(str(path.parent / p) if path else p for p in settings.manifests)
    if need_manifests and not paths:
        raise UserInputError("no manifests given: pass -f PATH (a file, directory or glob), or list `manifests` "
                             f"in {PROJECT_FILE}")
    return Workspace(settings, connection(chariot_url, settings.server.url, env=env), paths)


async def plan(workspace: Workspace, options: PlanOptions, declared: Sequence[DeclaredRun] | None = None) -> Plan:
    declared = workspace.manifests() if declared is None else declared
    async with workspace.connection.client() as client:
        return await make_plan(client, declared, options, adopted=workspace.project.adopted)


async def validate_online(workspace: Workspace, declared: Sequence[DeclaredRun]) -> Plan:
    """Blueprints resolved and configs validated for every declared run, whatever the live runs."""
    options = PlanOptions(owner=workspace.project.owner)
    async with workspace.connection.client() as client:
        bound = Bounded(32)
        live = await fetch_live_state(client, declared, prune=False, bound=bound)
        # As if nothing existed: every declared run would be created, so every config is validated.
        return await plan_validated(client, declared, replace(live, runs=()), options, bound)


async def apply(workspace: Workspace, plan_: Plan, reporter: Reporter, *, check_stale: bool,
                concurrency: int = 16) -> ApplyResult:
    async with workspace.connection.client() as client:
        if check_stale:
            stale = await stale_addresses(client, plan_)
            if stale:
                raise StalePlanError(stale)
        return await Executor(client, reporter, concurrency=concurrency).apply(plan_)


def load_saved_plan(path: Path) -> Plan:
    document = PlanDocument.model_validate_json(path.read_text("utf-8"))
    if document.redacted:
        raise ValueError(f"{path} is a redacted plan (from --format json); save plans with `plan --out FILE`")
    return document.plan


async def managed_runs(workspace: Workspace, owner: str, projects: Iterable[str]) -> tuple[list[Run], dict[str, str]]:
    """Runs we own in ``projects`` (names or ids), with project names by id."""
    async with workspace.connection.client() as client:
        return await _managed(client, owner, projects, workspace.project.adopted)


async def _managed(client: AsyncChariotClient, owner: str, projects: Iterable[str],
                   adopted: Iterable[str]) -> tuple[list[Run], dict[str, str]]:
    known = await client.get_projects()
    ids = {p.name: p.id for p in known} | {p.id: p.id for p in known}
    names = {p.id: p.name for p in known}
    wanted = sorted({ids[p] for p in projects if p in ids})
    runs = [r async for r in client.iter_runs(project_ids=wanted, page_size=1000)] if wanted else []
    adopted_ids = frozenset(adopted)
    return [r for r in runs if is_owned(r.notes, r.id, owner, adopted_ids)], names


async def find_unowned(workspace: Workspace, address: str) -> Run:
    """The single run at ``project/name@version`` (for ``adopt``)."""
    project, _, rest = address.partition("/")
    name, _, version = rest.rpartition("@")
    if not (project and name and version):
        raise ValueError(f"{address!r} is not an address of the form project/name@version")
    async with workspace.connection.client() as client:
        ids = {p.name: p.id for p in await client.get_projects()}
        project_id = ids.get(project) or (project if project in ids.values() else None)
        if project_id is None:
            raise ValueError(f"project {project!r} does not exist")
        runs = [r for r in await client.get_runs(project_ids=[project_id], name_ilikes=[escape_ilike(name)],
                                                 versions=[version], limit=100) if r.name == name]
    if len(runs) != 1:
        raise ValueError(f"expected exactly one run at {address}, found {len(runs)}")
    return runs[0]
