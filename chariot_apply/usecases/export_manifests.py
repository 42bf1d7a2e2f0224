"""Live runs as manifests (``chariot-apply export`` and ``import``): the run as declared, so that planning the
exported manifests against the same runs changes nothing. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.jsonvalue import is_schema_default
from chariot_apply.chariot.models import STOPPING_STATUSES, Run
from chariot_apply.manifest.expand import escape_variables
from chariot_apply.manifest.loader import check_document
from chariot_apply.manifest.model import TrainingRun
from chariot_apply.manifest.yaml_source import parse_documents
from chariot_apply.plan.live import ResolvedBlueprint, runs_by_address
from chariot_apply.plan.ownership import parse_notes
from chariot_apply.plan.sensitive import is_secret, write_only_paths

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


def run_manifest(run: Run, project: str, blueprint: ResolvedBlueprint) -> tuple[dict[str, Any], list[str]]:
    """One TrainingRun document for ``run``: its blueprint's exact version, its task type and resources, its config
    without schema defaults, its notes without our marker, and a state from its status; a ``${`` in any of it
    written ``$${``, so that loading the file gives the run's own text back. A secret config value (a secret-
    looking key, or one the blueprint's schema marks write-only) is written as a ``${VARIABLE}`` reference,
    never its value: these files are committed. Returns the document and the variables it needs."""
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
    notes, marker = parse_notes(run.notes)
    if notes.strip():
        spec["notes"] = notes.rstrip()
    if run.status in STOPPED:
        spec["state"] = "stopped"
    document: dict[str, Any] = escape_variables({
        "apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
        "metadata": {"name": run.name, "version": run.version, "project": project}, "spec": spec})
    secret = (*write_only_paths(blueprint.config_schema), *(marker.secret if marker else ()))
    needed: list[str] = []

    def reference(config: dict[str, Any], prefix: str) -> None:
        for key, value in config.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if is_secret(path, secret):
                variable = re.sub(r"\W+", "_", f"{run.name}_{path}").strip("_").upper()
                variable = variable if variable[:1].isalpha() else f"V_{variable}"
                config[key] = f"${{{variable}}}"
                needed.append(f"config.{path} -> ${{{variable}}}")
            elif isinstance(value, dict):
                reference(value, path)

    reference(document["spec"]["config"], "")
    return document, needed


def export_manifests(runs: Sequence[Run], project_names: Mapping[str, str], blueprints: Mapping[str, ResolvedBlueprint],
                     ) -> tuple[list[dict[str, Any]], list[Run], list[str], list[str]]:
    """A manifest per address (the oldest run there: the one every plan keeps), the runs they declare, what was
    left out, and the variables the manifests need for their secret values."""
    documents: list[dict[str, Any]] = []
    declared: list[Run] = []
    skipped: list[str] = []
    variables: list[str] = []
    for (project_id, name, version), at_address in sorted(runs_by_address(runs).items()):
        run = at_address[0]
        project = project_names.get(project_id, project_id)
        blueprint = blueprints.get(run.blueprint_id or "")
        where = f"{shown(project)}/{shown(name)}@{shown(version)}"
        if blueprint is None:
            skipped.append(f"{where}: its blueprint {run.blueprint_id} no longer exists")
            continue
        if not blueprint.described:
            skipped.append(f"{where}: this backend cannot read blueprint {run.blueprint_id}'s name "
                           "and version (the SDK has no call for it): export it with --backend rest")
            continue
        document, needed = run_manifest(run, project, blueprint)
        refusal = refused(document, project)
        if refusal is not None:
            skipped.append(f"{where}: its manifest would be refused "
                           f"({refusal}); rename the run in Chariot, or declare it by hand")
            continue
        documents.append(document)
        declared.append(run)
        variables += [f"{where}: {line}" for line in needed]
        skipped += [f"{where}: run {other.id} is a second run at this address (only the oldest, "
                    f"{run.id}, is exported)" for other in at_address[1:]]
    return documents, declared, skipped, variables


def refused(document: Mapping[str, Any], project: str) -> str | None:
    """Why the project's own loader would refuse ``document`` once written (``None``: it would not): an
    exported file that broke every later plan in its folder is worse than a run left out. The model decides (as
    it does for every valid manifest the loader reads); only a refusal is read back as the loader would, for its
    words."""
    try:
        TrainingRun.model_validate(document)
    except PydanticValidationError:
        pass
    else:
        return None
    documents, problems = parse_documents(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True),
                                          "<export>")
    if not problems:
        problems = check_document(documents[0], project)[1]
    return "; ".join(p.message for p in problems[:3]) if problems else None


def shown(name: str, limit: int = 60) -> str:
    """A server-given name fit for one line of output: control characters escaped, long ones cut."""
    text = name if name.isprintable() else repr(name)[1:-1]
    return text if len(text) <= limit else f"{text[:limit]}… ({len(name)} characters)"
