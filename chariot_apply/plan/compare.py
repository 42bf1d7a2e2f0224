"""How a declared run compares with the live one: the differences that force a replace, and the notices that do
not. JSON values are compared as JSON compares them (1 == 1.0, true != 1); keys the server filled in from the
blueprint's schema defaults are not differences. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chariot_apply.chariot.ilike import ilike
from chariot_apply.chariot.jsonvalue import is_schema_default, same_json
from chariot_apply.chariot.models import Resources, Run
from chariot_apply.chariot.quantity import same_quantity
from chariot_apply.manifest.model import DeclaredRun, ResourcesSpec
from chariot_apply.plan.live import ResolvedBlueprint
from chariot_apply.plan.model import Difference
from chariot_apply.plan.ownership import parse_notes
from chariot_apply.plan.references import as_created
from chariot_apply.runtime.lazyimport import import_without


def differences(run: DeclaredRun, live: Run, resolved: ResolvedBlueprint, task_type: str, spec_hash: str,
                blueprints_by_id: Mapping[str, ResolvedBlueprint]) -> tuple[tuple[Difference, ...], tuple[str, ...]]:
    """Differences that matter (declared vs live), and notices that do not force a change."""
    spec = run.spec
    user_notes, marker = parse_notes(live.notes)
    # The user changed something since the last apply: fields absent from the manifest now count too.
    edited = marker is not None and marker.spec != spec_hash
    diffs: list[Difference] = []
    notices: list[str] = []
    live_bp = blueprints_by_id.get(live.blueprint_id or "")
    if live.blueprint_id != resolved.id:
        pattern = spec.blueprint.version
        if live_bp is not None and live_bp.name == spec.blueprint.name and (pattern is None or
                                                                             ilike(live_bp.version, pattern)):
            notices.append(f"blueprint {spec.blueprint.name} {pattern or '(latest)'} now resolves to "
                           f"{resolved.version}; this run uses {live_bp.version}. Bump metadata.version to "
                           f"train on the newer blueprint")
        else:
            was = f"{live_bp.name} {live_bp.version}" if live_bp else f"blueprint id {live.blueprint_id}"
            diffs.append(Difference(path="blueprint", live=was,
                                    declared=f"{resolved.name} {pattern or '(latest)'} -> {resolved.version}"))
    if live.task_type != task_type:
        diffs.append(Difference(path="taskType", live=live.task_type, declared=task_type))
    diffs += _resource_differences(spec.resources, live.resources, edited)
    schema = live_bp.config_schema if live_bp is not None else resolved.config_schema
    declared_config = as_created(spec.config, live.config or {})  # references were resolved at the create
    diffs += _config_differences(declared_config, live.config or {}, schema, edited)
    if user_notes.rstrip() != (spec.notes or "").rstrip():
        notices.append("notes differ from the live run's; notes cannot change on a live run and take effect "
                       "when the run is next created")
    return tuple(diffs), tuple(notices)


def _resource_differences(declared: ResourcesSpec, live: Resources | None, edited: bool) -> Iterable[Difference]:
    live = live or Resources(cpu="", memory="")
    for name, key in (("cpu", "cpu"), ("memory", "memory"), ("ephemeralStorage", "ephemeral_storage")):
        want, have = getattr(declared, key), getattr(live, key)
        if want is None and not edited:
            continue
        if not same_quantity(want, have):
            yield Difference(path=f"resources.{name}", live=have, declared=want, in_live=have is not None,
                             in_manifest=want is not None)
    want_gpu = declared.gpu.model_dump() if declared.gpu else None
    have_gpu = live.gpu.model_dump() if live.gpu else None
    if (want_gpu is not None or edited) and want_gpu != have_gpu:
        yield Difference(path="resources.gpu", live=have_gpu, declared=want_gpu, in_live=have_gpu is not None,
                         in_manifest=want_gpu is not None)


def _project(live: Any, declared: Any) -> Any:
    """``live`` cut down to the keys ``declared`` has, so that server-filled extras are not differences."""
    if isinstance(live, dict) and isinstance(declared, dict):
        return {k: _project(live[k], declared[k]) for k in declared if k in live}
    return live


def _config_differences(declared: dict[str, Any], live: dict[str, Any], schema: Mapping[str, Any],
                        edited: bool) -> Iterable[Difference]:
    projected = _project(live, declared)
    if not same_json(projected, declared):
        yield from structural_differences(projected, declared, "config")
    if edited:
        yield from _removed_keys(declared, live, schema, "config")


class _JsonBool(str):
    """A JSON boolean, kept apart from numbers (Python and deepdiff take True == 1; JSON does not) and from
    strings (its own type), and compared as a leaf."""

    __slots__ = ()


def _tag(value: Any) -> Any:
    if isinstance(value, bool):
        return _JsonBool("true" if value else "false")
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, _JsonBool):
        return value == "true"
    if isinstance(value, dict):
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def structural_differences(live: Any, declared: Any, root: str) -> Iterable[Difference]:
    """What deepdiff finds between two JSON values (1 == 1.0, true != 1), one Difference per place."""
    diff = _deepdiff()(_tag(live), _tag(declared), ignore_type_in_groups=[(int, float)], view="tree",
                    ignore_private_variables=False)  # a config key may start with "__"
    missing = _not_present()
    for report in diff.values():
        for level in report:
            path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                  for p in level.path(output_format="list"))
            in_live, in_manifest = level.t1 is not missing, level.t2 is not missing
            yield Difference(path=path, live=_untag(level.t1) if in_live else None,
                             declared=_untag(level.t2) if in_manifest else None, in_live=in_live,
                             in_manifest=in_manifest)


#: What deepdiff imports where installed, to compare arrays and frames: configs are JSON, and
#: numpy alone would be most of a first plan's start-up.
DEEPDIFF_OPTIONALS = ("numpy", "pandas", "polars")


def _deepdiff() -> Any:
    """DeepDiff, imported only when a config differs, without its optional array libraries: configs are JSON."""
    return import_without("deepdiff", DEEPDIFF_OPTIONALS).DeepDiff


def _not_present() -> Any:
    """deepdiff's marker of a value one side does not have."""
    return import_without("deepdiff.helper", DEEPDIFF_OPTIONALS).notpresent


def _removed_keys(declared: dict[str, Any], live: dict[str, Any], schema: Mapping[str, Any],
                  prefix: str) -> Iterable[Difference]:
    properties = schema.get("properties") or {}
    for key, value in live.items():
        found = properties.get(key)
        prop: Mapping[str, Any] = found if isinstance(found, dict) else {}
        if key not in declared:
            if is_schema_default(prop, value):
                continue  # filled in by the server
            yield Difference(path=f"{prefix}.{key}", live=value, declared=None, in_manifest=False)
        elif isinstance(value, dict) and isinstance(declared[key], dict):
            yield from _removed_keys(declared[key], value, prop, f"{prefix}.{key}")
