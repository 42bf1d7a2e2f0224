"""``chariot-apply render``: the fully expanded TrainingRun documents (after variables, defaults and sweeps),
as YAML that ``plan`` reads back to the same plan (with ``--show-secrets``: secret values are ``(sensitive)``
otherwise). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from chariot_apply.manifest.expand import escape_variables
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.yaml_source import format_path
from chariot_apply.plan.redact import redact_config


def manifest_document(run: DeclaredRun, *, show_secrets: bool = False,
                      write_only: Mapping[tuple[str, str | None], tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The run as a TrainingRun document: defaults left out, the project always named, secret config values
    ``(sensitive)`` unless ``show_secrets``, and every ``${`` written ``$${`` so that reading it back gives the
    same text (variables were substituted already)."""
    document: dict[str, Any] = run.manifest.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    document["apiVersion"], document["kind"] = "chariot-apply/v1", "TrainingRun"
    document["metadata"]["project"] = run.project
    if not show_secrets and "config" in document["spec"]:
        secret = (*run.spec.sensitive, *(write_only or {}).get((run.spec.blueprint.name, run.spec.blueprint.version),
                                                               ()))
        document["spec"]["config"] = redact_config(document["spec"]["config"], secret)
    escaped: dict[str, Any] = escape_variables({key: document[key] for key in ("apiVersion", "kind", "metadata",
                                                                                "spec")})
    return escaped


def render_manifests(runs: Sequence[DeclaredRun], *, origins: bool = False, show_secrets: bool = False,
                     write_only: Mapping[tuple[str, str | None], tuple[str, ...]] | None = None) -> str:
    """One YAML document per run, each headed by where it was declared (and, with ``origins``, where each of its
    values was written: the run's document, a sweep's template or grid, shared defaults, the project file).
    Secret values are ``(sensitive)`` (teams pipe this into CI logs) unless ``show_secrets``; ``write_only`` (from
    the lock file: offline, the blueprints' schemas are not known) names each blueprint's write-only paths."""
    parts = []
    for run in sorted(runs, key=lambda r: (r.project, r.name, r.version)):
        head = [f"# {run.project}/{run.name}@{run.version}: declared at {run.location}"]
        if origins:
            head += [f"#   {format_path(path)} <- {where}" for path, where in run.field_locations
                     if path[:1] == ("spec",) and len(path) > 1]
        document = manifest_document(run, show_secrets=show_secrets, write_only=write_only)
        body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        parts.append("\n".join(head) + "\n" + body)
    return "---\n".join(parts)
