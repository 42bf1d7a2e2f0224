"""``LiveState`` factories for the pure diff: what a plan would meet, built in memory without a server."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from chariot_apply.chariot.models import Resources, Run
from chariot_apply.manifest.loader import check_document
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.yaml_source import parse_documents
from chariot_apply.plan.identity import desired_spec
from chariot_apply.plan.live import LiveState, ResolvedBlueprint
from chariot_apply.plan.ownership import Marker, compose_notes, spec_fingerprint
from tests.factories import manifest

OWNER = "team"
PROJECT_ID = "p-vision"
BLUEPRINT = ResolvedBlueprint("bp-2", "image-classifier", "2.1.0", ("Image Classification",),
                              {"properties": {"epochs": {"type": "integer"}, "dataset_id": {"type": "string"},
                                              "batch_size": {"type": "integer", "default": 32}}})
_ids = itertools.count(1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def declared(name: str = "a", **overrides: Any) -> DeclaredRun:
    (doc,), problems = parse_documents(yaml.safe_dump(manifest(name, **overrides)), "runs.yaml")
    run, found = check_document(doc, "vision")
    assert run is not None and not problems and not found, found
    return run


def live(of: DeclaredRun | None = None, *, owner: str | None = OWNER, status: str = "job_running",
         name: str | None = None, age: int = 0, spec_of: DeclaredRun | None = None, **fields: Any) -> Run:
    """The live run that applying ``of`` would have made (owned by ``owner``; None: no marker), then ``fields``."""
    of = of or declared(name or "a")
    marker = Marker(owner, spec_fingerprint(desired_spec(spec_of or of))) if owner else None
    res = of.spec.resources
    base: dict[str, Any] = {
        "id": f"run-{next(_ids):04d}", "name": of.name, "version": of.version, "project_id": PROJECT_ID,
        "blueprint_id": BLUEPRINT.id, "task_type": "Image Classification", "status": status,
        "created_at": T0 + timedelta(seconds=age),
        "resources": Resources(cpu=res.cpu, memory=res.memory), "config": dict(of.spec.config),
        "notes": compose_notes(of.spec.notes, marker) if marker else of.spec.notes,
    }
    return Run(**(base | fields))


def state(*runs: Run, complete: bool = False, adopted: frozenset[str] = frozenset()) -> LiveState:
    return LiveState(project_ids={"vision": PROJECT_ID, PROJECT_ID: PROJECT_ID},
                     project_names={PROJECT_ID: "vision"},
                     blueprints={("image-classifier", "2.%"): BLUEPRINT}, blueprints_by_id={BLUEPRINT.id: BLUEPRINT},
                     runs=runs, complete_projects=frozenset({PROJECT_ID}) if complete else frozenset(),
                     adopted=adopted)
