"""Live runs as manifests (``chariot-apply export`` and ``import``): the run as declared, so that planning the
exported manifests against the same runs changes nothing. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.jsonvalue import is_schema_default
from chariot_apply.chariot.models import STOPPING_STATUSES, Run
from chariot_apply.plan.live import ResolvedBlueprint, runs_by_address
from chariot_apply.plan.ownership import parse_notes

STOPPED = frozenset({"job_terminated"}) | STOPPING_STATUSES


def without_defaults(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` less the values the blueprint's schema would fill in anyway (at any depth)."""
    found = schema.get("properties")
    properties: Mapping[str, Any] = found if isinstance(found, dict) else {}
    out: dict[str, Any] = {}
    for key, value in config.items():
        entry = properties.get(key)
        prop: Mapping[str, Any] = entry if isinstance(entry, dict) else {}
        if is_schema_default(prop, value):
            continue
        if isinstance(value, dict) and prop.get("properties"):
            value = without_defaults(value, prop)
            if not value and "default" in prop:
                continue
        out[key] = value
    return out


def run_manifest(run: Run, project: str, blueprint: ResolvedBlueprint) -> dict[str, Any]:
    """One TrainingRun document for ``run``: its blueprint's exact version, its task type and resources, its config
    without schema defaults, its notes without our marker, and a state from its status."""
    resources: dict[str, Any] = {}
    if run.resources is not None:
        resources = {"cpu": run.resources.cpu, "memory": run.resources.memory}
        if run.resources.ephemeral_storage:
            resources["ephemeralStorage"] = run.resources.ephemeral_storage
        if run.resources.gpu is not None:
            resources["gpu"] = {"count": run.resources.gpu.count, "type": run.resources.gpu.type}
    spec: dict[str, Any] = {"blueprint": {"name": blueprint.name, "version": escape_ilike(blueprint.version)},
                            "taskType": run.task_type, "resources": resources,
                            "config": without_defaults(run.config or {}, blueprint.config_schema)}
    notes, _ = parse_notes(run.notes)
    if notes.strip():
        spec["notes"] = notes.rstrip()
    if run.status in STOPPED:
        spec["state"] = "stopped"
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
            "metadata": {"name": run.name, "version": run.version, "project": project}, "spec": spec}


def export_manifests(runs: Sequence[Run], project_names: Mapping[str, str], blueprints: Mapping[str, ResolvedBlueprint],
                     ) -> tuple[list[dict[str, Any]], list[Run], list[str]]:
    """A manifest per address (the oldest run there: the one every plan keeps), the runs they declare, and
    what was left out."""
    documents: list[dict[str, Any]] = []
    declared: list[Run] = []
    skipped: list[str] = []
    for (project_id, name, version), at_address in sorted(runs_by_address(runs).items()):
        run = at_address[0]
        project = project_names.get(project_id, project_id)
        blueprint = blueprints.get(run.blueprint_id or "")
        if blueprint is None:
            skipped.append(f"{project}/{name}@{version}: its blueprint {run.blueprint_id} no longer exists")
            continue
        if not blueprint.described:
            skipped.append(f"{project}/{name}@{version}: this backend cannot read blueprint {run.blueprint_id}'s name "
                           "and version (the SDK has no call for it): export it with --backend rest")
            continue
        documents.append(run_manifest(run, project, blueprint))
        declared.append(run)
        skipped += [f"{project}/{name}@{version}: run {other.id} is a second run at this address (only the oldest, "
                    f"{run.id}, is exported)" for other in at_address[1:]]
    return documents, declared, skipped


