"""How a declared run compares with the live one: the differences that force a replace, and the notices that do
not. JSON values are compared as JSON compares them (1 == 1.0, true != 1); keys the server filled in from the
blueprint's defaults are not differences, on either backend. Once the manifest is edited, a live key it does not
declare is a difference only if the manifest declared it when the run was created (the marker's ``keys``); runs
made before the marker recorded them fall back to the blueprint's schema defaults, where the backend can read
the schema, and are otherwise taken as server-filled. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chariot_apply.chariot.ilike import ilike
from chariot_apply.chariot.jsonvalue import is_schema_default, same_json
from chariot_apply.chariot.models import Resources, Run
from chariot_apply.chariot.quantity import same_quantity
from chariot_apply.manifest.model import DeclaredRun, ResourcesSpec
from chariot_apply.plan.live import ResolvedBlueprint
from chariot_apply.plan.model import Difference
from chariot_apply.plan.ownership import Marker, parse_notes, was_declared
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
    before = _DeclaredBefore(marker if edited else None, live_bp or resolved)
    diffs += _resource_differences(spec.resources, live.resources, before)
    declared_config = as_created(spec.config, live.config or {})  # references were resolved at the create
    diffs += _config_differences(declared_config, live.config or {}, before)
    if user_notes.rstrip() != (spec.notes or "").rstrip():
        notices.append("notes differ from the live run's; notes cannot change on a live run and take effect "
                       "when the run is next created")
    return tuple(diffs), tuple(notices)


@dataclass(frozen=True)
class _DeclaredBefore:
    """What the manifest declared when the run was created, as far as can be told: ``marker`` is None while the
    manifest is unedited (an absent key is then never a difference)."""

    marker: Marker | None
    blueprint: ResolvedBlueprint

    def dropped(self, path: tuple[str, ...], live_value: Any, prop: Mapping[str, Any]) -> bool:
        """Whether a live value at ``path`` the manifest no longer declares was declared at the create."""
        if self.marker is None or live_value is None:
            return False
        if self.marker.keys is not None:
            return was_declared(self.marker.keys, path)
        if path[0] == "resources":
            return True  # the server fills in no resource
        return self.blueprint.described and not is_schema_default(prop, live_value)


def _resource_differences(declared: ResourcesSpec, live: Resources | None,
                          before: _DeclaredBefore) -> Iterable[Difference]:
    live = live or Resources(cpu="", memory="")
    for name, key in (("cpu", "cpu"), ("memory", "memory"), ("ephemeralStorage", "ephemeral_storage")):
        want, have = getattr(declared, key), getattr(live, key)
        if want is None and not before.dropped(("resources", name), have, {}):
            continue
        if not same_quantity(want, have):
            yield Difference(path=f"resources.{name}", live=have, declared=want, in_live=have is not None,
                             in_manifest=want is not None)
    want_gpu = declared.gpu.model_dump() if declared.gpu else None
    have_gpu = live.gpu.model_dump() if live.gpu else None
    if (want_gpu is not None or before.dropped(("resources", "gpu"), have_gpu, {})) and want_gpu != have_gpu:
        yield Difference(path="resources.gpu", live=have_gpu, declared=want_gpu, in_live=have_gpu is not None,
                         in_manifest=want_gpu is not None)


def _project(live: Any, declared: Any) -> Any:
    """``live`` cut down to the keys ``declared`` has, so that server-filled extras are not differences."""
    if isinstance(live, dict) and isinstance(declared, dict):
        return {k: _project(live[k], declared[k]) for k in declared if k in live}
    return live


def _config_differences(declared: dict[str, Any], live: dict[str, Any],
                        before: _DeclaredBefore) -> Iterable[Difference]:
    projected = _project(live, declared)
    if not same_json(projected, declared):
        yield from structural_differences(projected, declared, "config")
    if before.marker is not None:
        yield from _removed_keys(declared, live, before.blueprint.config_schema, ("config",), before)


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
                  prefix: tuple[str, ...], before: _DeclaredBefore) -> Iterable[Difference]:
    properties = schema.get("properties") or {}
    for key, value in live.items():
        found = properties.get(key)
        prop: Mapping[str, Any] = found if isinstance(found, dict) else {}
        path = (*prefix, key)
        if key not in declared:
            if before.dropped(path, value, prop):
                yield Difference(path=".".join(path), live=value, declared=None, in_manifest=False)
        elif isinstance(value, dict) and isinstance(declared[key], dict):
            yield from _removed_keys(declared[key], value, prop, path, before)
