"""Live runs into manifests: ``export``, ``import`` (export, then adopt) and ``adopt``."""


from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.models import Run
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.project_file import add_adopted
from chariot_apply.plan.live import ProjectIndex, ResolvedBlueprint
from chariot_apply.plan.ownership import is_owned
from chariot_apply.runtime.concurrency import Bounded
from chariot_apply.runtime.files import safe_file_name, write_inside
from chariot_apply.usecases.export_manifests import export_manifests
from chariot_apply.usecases.watching import (
    runs_at_address,
)
from chariot_apply.workspace.project import Workspace


@dataclass(frozen=True)
class Exported:
    documents: list[dict[str, Any]]
    runs: list[Run]  # the runs the documents declare
    skipped: list[str]
    variables: list[str]  # "address: config.path -> ${VARIABLE}": secret values are written as references


async def _what_there_is(client: Backend, project: str, project_id: str, filters: Mapping[str, Any]) -> str:
    """The hint of a selection that matched nothing: some of the runs the project does have (one more request,
    only on this path), and the command that exports them all."""
    if len(filters) == 1:
        return f"the project has no run at all; {hints.EXPORT.cited(project=project)} exports what it will have"
    some = await client.get_runs(project_ids=[project_id], sort=["created_at:desc"], limit=5)
    if not some:
        return "the project has no run at all"
    names = ", ".join(f"{r.name}@{r.version} ({r.status})" for r in some)
    return (f"check --name-ilike (SQL ILIKE: % and _), --status and --id: its latest runs are {names}; "
            f"{hints.EXPORT.cited(project=project)} exports every one")


async def export(workspace: Workspace, project: str, *, name_ilikes: Sequence[str] = (),
                 statuses: Sequence[str] = (), ids: Sequence[str] = (), include_managed: bool = False) -> Exported:
    """Manifests for the live runs of ``project`` that the filters select (``get_runs`` semantics), but for those
    chariot-apply manages already (their manifests exist: a second copy would declare them twice) unless
    ``include_managed``. Nothing selected is an error: an export of nothing is never "done"."""
    async with workspace.client() as client:
        index = ProjectIndex.of(await client.find_projects([project]))
        project_id = index.ids.get(project)
        if project_id is None:
            known = await client.get_projects()
            raise UserError(f"project {project!r} does not exist",
                            hint=f"give a project name or id: {did_you_mean(project, [p.name for p in known])}",
                            code=codes.PROJECT_NOT_FOUND)
        filters: dict[str, Any] = {"project_ids": [project_id]}
        filters |= {"name_ilikes": list(name_ilikes)} if name_ilikes else {}
        filters |= {"statuses": list(statuses)} if statuses else {}
        filters |= {"ids": list(ids)} if ids else {}
        listed = [r async for r in client.iter_runs(page_size=1000, **filters)]
        owner, adopted = workspace.project.owner, workspace.project.adopted
        runs = [r for r in listed if include_managed or not is_owned(r.notes, r.id, owner, adopted)]
        if not runs:
            managed = len(listed) - len(runs)
            raise UserError(f"no run in project {project!r} matches" + (
                f" that chariot-apply does not manage already ({managed} it does)" if managed else ""),
                hint="--include-managed exports the managed ones too" if managed else
                await _what_there_is(client, project, project_id, filters), code=codes.NO_MATCH)
        bound = Bounded(32)
        used = sorted({r.blueprint_id for r in runs if r.blueprint_id})
        found = await bound.all(client.get_blueprint(i) for i in used)
    blueprints = {b.id: ResolvedBlueprint.of(b) for b in found}
    return Exported(*export_manifests(runs, dict(index.names), blueprints))


def read_by_plans(manifest_paths: Sequence[str], directory: Path) -> bool:
    """Whether a manifest file written into ``directory`` is one the manifest paths (folders or globs) take in."""
    target = directory.resolve()
    for listed in manifest_paths:
        if any(c in listed for c in "*?["):
            if fnmatch.fnmatch(str(target / "x.yaml"), str(Path(listed).absolute())):
                return True
        elif target.is_relative_to(Path(listed).resolve()) and not Path(listed).is_file():
            return True
    return False


def write_exported(documents: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    """One file per project (``<project>.yaml``, the name made safe), documents in address order."""
    directory.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[Mapping[str, Any]]] = {}
    for document in documents:
        by_project.setdefault(document["metadata"]["project"], []).append(document)
    return [write_inside(directory, safe_file_name(project, ".yaml"),
                         yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True))
            for project, docs in sorted(by_project.items())]


ADOPT_HINT = "give the address shown in the plan's conflict"


async def find_unowned(workspace: Workspace, address: str) -> Run:
    """The single run at ``project/name@version`` (for ``adopt``)."""
    async with workspace.client() as client:
        runs = await runs_at_address(client, address, ADOPT_HINT)
    if len(runs) != 1:
        raise UserError(f"expected exactly one run at {address}, found {len(runs)}", hint=ADOPT_HINT,
                        code=codes.NO_MATCH)
    return runs[0]


async def adopt(workspace: Workspace, project_file: Path, address: str) -> Run:
    """Take the single run at ``address`` under management: its id is recorded in ``project_file``."""
    run = await find_unowned(workspace, address)
    add_adopted(project_file, run.id or "")
    return run


@dataclass(frozen=True)
class Imported:
    exported: Exported
    paths: list[Path]  # the manifest files written
    adopted: list[str]  # ids of the runs newly recorded as ours


async def import_runs(workspace: Workspace, project_file: Path, directory: Path, project: str, *,
                      name_ilikes: Sequence[str] = (), statuses: Sequence[str] = (),
                      ids: Sequence[str] = ()) -> Imported:
    """Export the runs, write their manifests into ``directory``, and adopt those we do not own yet.

    ``directory`` must be one the plans read: a run adopted where no plan looks would be planned for deletion by
    the next ``plan --prune``."""
    if not read_by_plans(workspace.paths, directory):
        listed = ", ".join(workspace.paths) or "none"
        raise UserError(f"{directory} is not among the manifests the plans read ({listed})",
                        hint="import into a folder under one of them (e.g. -o runs/imported), or list it under "
                             "`manifests:` in the project file first; a run adopted where no plan looks would be "
                             "deleted by the next `plan --prune`", code=codes.USAGE)
    exported = await export(workspace, project, name_ilikes=name_ilikes, statuses=statuses, ids=ids)
    paths = write_exported(exported.documents, directory)
    owner, adopted_before = workspace.project.owner, workspace.project.adopted
    adopted = [r.id for r in exported.runs if r.id and not is_owned(r.notes, r.id, owner, adopted_before)]
    for run_id in adopted:
        add_adopted(project_file, run_id)
    return Imported(exported, paths, adopted)

