"""From documents as written to TrainingRun documents: variables, shared defaults, sweeps. Pure.

Every value keeps where it was written: a default's value points at the defaults file, a sweep point's value
at the grid entry it came from, so that every problem is reported at the line that caused it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import yaml

from chariot_apply.diagnostics import codes
from chariot_apply.manifest.errors import Location, ManifestProblem
from chariot_apply.manifest.model import SWEEP_SELECT, Matrix, Selector, TrainingRunSweep
from chariot_apply.manifest.yaml_source import JSON_SCALARS, Document, Path_, format_path

#: ``${run:ADDRESS...}`` refers to another run (``plan/references.py``), resolved by the planner: kept as written.
VARIABLE = re.compile(r"\$\$\{|(?P<reference>\$\{run:[^}]*\})"
                      r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{")
SECRET_VARIABLE = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
#: A run's name stays readable: past this, a sweep point's slug is shortened with a hash.
MAX_SWEEP_RUN_NAME = 100
#: A grid with exclusions is expanded to apply them, up to this many combinations (a fraction of a second).
MAX_BUILT_COMBINATIONS = 100_000


# ---------------------------------------------------------------------------------------------- variables

@dataclass
class Substituted:
    problems: list[ManifestProblem] = field(default_factory=list)
    secret_paths: list[Path_] = field(default_factory=list)  # where a secret-looking variable's value went
    filled: dict[Path_, tuple[str, ...]] = field(default_factory=dict)  # where each variable's value went


def substitute(doc: Document, variables: Mapping[str, str]) -> Substituted:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of ``doc`` (``$${`` is a literal ``${``).
    A string that is exactly one variable takes the YAML type of its value (``epochs: ${EPOCHS}`` is 30)."""
    result = Substituted()
    doc.data = _substitute(doc.data, (), doc, variables, result)
    return result


def escape_variables(value: Any) -> Any:
    """``value`` written so that ``substitute`` gives it back unchanged: every ``${`` becomes ``$${``."""
    if isinstance(value, dict):
        return {k: escape_variables(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_variables(v) for v in value]
    return value.replace("${", "$${") if isinstance(value, str) else value


def _substitute(value: Any, path: Path_, doc: Document, variables: Mapping[str, str], result: Substituted) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, k), doc, variables, result) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), doc, variables, result) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        if match.group("reference"):
            return match.group(0)
        name = match.group("name")
        if name is None:
            raise _Unclosed
        names.append(name)
        if name in variables:
            return variables[name]
        if match.group("default") is not None:
            return str(match.group("default"))
        raise _Unset(name)

    try:
        text = VARIABLE.sub(replace, value)
    except _Unset as unset:
        result.problems.append(ManifestProblem(doc.where(path), format_path(path), f"variable {unset.name} is not set",
                                               f"pass --var {unset.name}=VALUE, set it in the environment, list it "
                                               "under `vars:` in chariot-apply.yaml, or write ${" + unset.name
                                               + ":-default}", code=codes.VARIABLE_UNSET))
        return value
    except _Unclosed:
        result.problems.append(ManifestProblem(doc.where(path), format_path(path), "a ${ is not closed with }",
                                               "write ${NAME}, or $${ for a literal ${", code=codes.VARIABLE_UNCLOSED))
        return value
    if names:
        result.filled[path] = tuple(names)
    if (outside := _secret_outside_config(doc, path, names)) is not None:
        result.problems.append(outside)
        return value
    if any(SECRET_VARIABLE.search(n) for n in names):
        result.secret_paths.append(path)
    whole = VARIABLE.fullmatch(value)
    if whole and whole.group("name"):
        try:
            typed = yaml.safe_load(text) if text.strip() else text
        except (yaml.YAMLError, ValueError):  # ValueError: an integer past Python's 4,300 digits stays text
            return text
        return typed if isinstance(typed, JSON_SCALARS) and typed is not None else text
    return text


def _secret_outside_config(doc: Document, path: Path_, names: Iterable[str]) -> ManifestProblem | None:
    """A secret-looking variable anywhere but a config value: Chariot would store it, and show it, in clear."""
    secret = [n for n in names if SECRET_VARIABLE.search(n)]
    if not secret or _in_config(path):
        return None
    return ManifestProblem(doc.where(path), format_path(path), f"the secret-looking variable ${{{secret[0]}}} "
                           f"fills {format_path(path)}, which Chariot stores and shows in clear (only config values "
                           "can be kept secret)", "move the value into spec.config (marked in spec.sensitive if its "
                           "key does not look secret), or use a variable that is not a secret",
                           code=codes.SECRET_OUTSIDE_CONFIG)


def _in_config(path: Path_) -> bool:
    """Whether ``path`` (from the document root) is inside a run's or a sweep template's ``spec.config``."""
    spec = path[1:] if path[:1] == ("spec",) else ()
    spec = spec[1:] if spec[:1] == ("template",) else spec
    return spec[:1] == ("config",) and len(spec) > 1


class _Unset(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


class _Unclosed(Exception):
    pass


def sensitive_from_secrets(doc: Document, secret_paths: Iterable[Path_]) -> None:
    """Config values that came from a secret-looking variable are redacted like a ``sensitive`` key."""
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("spec"), dict):
        return
    for path in secret_paths:
        spec_path = path[1:]
        if spec_path[:1] == ("template",):  # a sweep's template
            spec_path = spec_path[1:]
            spec = doc.data["spec"].get("template")
        else:
            spec = doc.data["spec"]
        if isinstance(spec, dict) and spec_path[:1] == ("config",) and len(spec_path) > 1:
            key = ".".join(str(p) for p in spec_path[1:] if not isinstance(p, int))
            listed = spec.get("sensitive")
            if isinstance(listed, list) and key not in listed:
                listed.append(key)
            elif listed is None:
                spec["sensitive"] = [key]


# ---------------------------------------------------------------------------------------------- defaults

@dataclass(frozen=True)
class DefaultsRule:
    """A partial spec for the runs (and sweeps) its selector matches, with where each value is written."""

    selector: Selector
    template: Mapping[str, Any]
    locations: Mapping[Path_, Location]  # paths relative to the template
    origin: Location

    def matches(self, name: Any, project: Any) -> bool:
        if self.selector.name is not None and not (isinstance(name, str) and fnmatchcase(name, self.selector.name)):
            return False
        return self.selector.project is None or self.selector.project == project


def defaults_rule(doc: Document, selector: Selector, template: Mapping[str, Any], prefix: Path_) -> DefaultsRule:
    """The rule of a RunDefaults document (``prefix`` = ``("spec", "template")``) or a project file entry."""
    n = len(prefix)
    locations = {path[n:]: where for path, where in doc.locations.items() if path[:n] == prefix and len(path) > n}
    return DefaultsRule(selector, template, locations, doc.where(prefix))


def merge_defaults(doc: Document, rules: Sequence[DefaultsRule], default_project: str) -> list[str]:
    """Deep-merge every matching rule under ``doc``'s spec (a sweep's: under its template), in order; the
    document's own values win. Returns where the merged values came from, for ``render``."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict) or not isinstance(data.get("metadata"),
                                                                                              dict):
        return []
    metadata = data["metadata"]
    sweep = data.get("kind") == "TrainingRunSweep"
    base: Path_ = ("spec", "template") if sweep else ("spec",)
    target = data["spec"].get("template") if sweep else data["spec"]
    if not isinstance(target, dict):
        return []
    project = metadata.get("project") or default_project
    merged: dict[str, Any] = {}
    origins: list[str] = []
    for rule in rules:
        if rule.matches(metadata.get("name"), project):
            merged = _deep_merge(merged, copy.deepcopy(dict(rule.template)))
            for path, where in rule.locations.items():
                doc.locations.setdefault((*base, *path), where)
            origins.append(str(rule.origin))
    if not origins:
        return []
    result = _deep_merge(merged, target)
    if sweep:
        data["spec"]["template"] = result
    else:
        data["spec"] = result
    return origins


def _deep_merge(under: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Maps merge; lists and scalars are replaced; ``over`` wins."""
    out = dict(under)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------- sweeps

@dataclass(frozen=True)
class Point:
    values: tuple[tuple[str, Any], ...]  # (field path, value), sorted by path
    locations: tuple[tuple[str, Location], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def expand_sweep(doc: Document, sweep: TrainingRunSweep) -> tuple[list[Document], list[ManifestProblem]]:
    """One TrainingRun document per point of the sweep's matrix. Its size is counted before any point is built:
    a grid of 10^12 combinations is refused at once, not after filling the memory."""
    matrix_at = doc.where(("spec", "matrix"))
    matrix = sweep.spec.matrix
    combinations = math.prod(len(values) for values in matrix.grid.values()) if matrix.grid else 0
    at_most = combinations + len(matrix.include)  # exclusions only remove; an include may repeat a grid point
    if at_most > sweep.spec.max_runs and (not matrix.exclude or at_most > MAX_BUILT_COMBINATIONS):
        counted = (f"{at_most:,} points" if not matrix.exclude else
                   f"{at_most:,} combinations before its exclusions (at most {MAX_BUILT_COMBINATIONS:,} are "
                   "expanded to apply them)")
        return [], [ManifestProblem(matrix_at, "spec.matrix",
                                    f"the sweep has {counted}, more than maxRuns ({sweep.spec.max_runs})",
                                    "remove values from the grid, or raise spec.maxRuns if you mean it",
                                    code=codes.SWEEP_INVALID)]
    points = _points(doc, matrix)
    if not points:  # an empty matrix, or exclusions that remove every point: a sweep of nothing is a mistake
        why = "its exclusions remove every point" if matrix.grid or matrix.include else "its matrix is empty"
        return [], [ManifestProblem(matrix_at, "spec.matrix", f"the sweep makes no run: {why}",
                                    "give the matrix a parameter and its values (matrix: {learning_rate: [0.01, "
                                    "0.1]}), or remove the sweep", code=codes.SWEEP_INVALID)]
    if len(points) > sweep.spec.max_runs:
        return [], [ManifestProblem(matrix_at, "spec.matrix",
                                    f"the sweep has {len(points)} points, more than maxRuns ({sweep.spec.max_runs})",
                                    "remove values from the grid, or raise spec.maxRuns if you mean it",
                                    code=codes.SWEEP_INVALID)]
    raw = doc.data["spec"]
    template = raw.get("template") if isinstance(raw, dict) else None
    for i, promotion in enumerate(sweep.spec.promote):
        if promotion.checkpoint.select != "best":
            at = ("spec", "promote", i, "checkpoint", "select")
            return [], [ManifestProblem(doc.where(at), format_path(at), f"{SWEEP_SELECT}, not "
                                        f"{promotion.checkpoint.select}",
                                        "write checkpoint: {select: best, metric: TAG}, or promote from a point in "
                                        "the template", code=codes.PROMOTION_INVALID)]
    abbreviations = _abbreviations({path for point in points for path, _ in point.values})
    documents: list[Document] = []
    problems: list[ManifestProblem] = []
    seen: dict[str, Point] = {}
    for point in points:
        slug = _slug(point, abbreviations, sweep.metadata.name)
        if slug in seen:
            problems.append(ManifestProblem(matrix_at, "spec.matrix", f"two points are both named {slug!r}: "
                                            f"{seen[slug].as_dict()} and {point.as_dict()}",
                                            "make the values differ by more than punctuation",
                                            code=codes.SWEEP_INVALID))
            continue
        seen[slug] = point
        documents.append(_point_document(doc, sweep, copy.deepcopy(template), point, slug))
    return documents, problems


def _points(doc: Document, matrix: Matrix) -> list[Point]:
    grid_at: Path_ = ("spec", "matrix", "grid")
    axes = [[(path, value, doc.where((*grid_at, path, i))) for i, value in enumerate(values)]
            for path, values in sorted(matrix.grid.items())]
    points: list[Point] = []
    for combination in itertools.product(*axes) if axes else []:
        points.append(_point([(path, value) for path, value, _ in combination],
                             [(path, where) for path, _, where in combination]))
    for i, extra in enumerate(matrix.include):
        at = ("spec", "matrix", "include", i)
        point = _point(list(extra.items()), [(k, doc.where((*at, k))) for k in extra])
        if not any(_same(point, p) for p in points):
            points.append(point)
    return [p for p in points if not any(_covers(rule, p) for rule in matrix.exclude)]


def _point(values: list[tuple[str, Any]], locations: list[tuple[str, Location]]) -> Point:
    return Point(tuple(sorted(values, key=lambda kv: kv[0])), tuple(sorted(locations, key=lambda kv: kv[0])))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _same(a: Point, b: Point) -> bool:
    return _canonical(a.as_dict()) == _canonical(b.as_dict())


def _covers(rule: Mapping[str, Any], point: Point) -> bool:
    values = point.as_dict()
    return all(path in values and _canonical(values[path]) == _canonical(v) for path, v in rule.items())


def _abbreviations(paths: Iterable[str]) -> dict[str, str]:
    """``config.learning_rate`` -> ``lr``, ``config.batch_size`` -> ``bs``, ``config.epochs`` -> ``epochs``;
    where two paths of one sweep would read alike, their paths (less ``config.``) are spelled out."""
    short = {path: _abbreviate(path) for path in paths}
    clashing = {a for a in short.values() if list(short.values()).count(a) > 1}
    return {path: (re.sub(r"[^A-Za-z0-9]+", "_", path.removeprefix("config.")) if a in clashing else a)
            for path, a in short.items()}


def _abbreviate(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    words = [w for w in re.split(r"[_\-]+|(?<=[a-z])(?=[A-Z])", last) if w]
    return "".join(w[0] for w in words).lower() if len(words) > 1 else last.lower()[:10]


def _slug(point: Point, abbreviations: Mapping[str, str], sweep: str) -> str:
    """Readable and stable: built from this point's own values only, in path order."""
    slug = "-".join(f"{abbreviations[path]}{_text(value)}" for path, value in point.values)
    room = MAX_SWEEP_RUN_NAME - len(sweep) - 1
    if len(slug) > room:
        digest = hashlib.sha256(_canonical(point.as_dict()).encode()).hexdigest()[:8]
        slug = slug[:max(1, room - 9)].rstrip("-_.") + "-" + digest
    return slug


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
    else:
        text = hashlib.sha256(_canonical(value).encode()).hexdigest()[:6]
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "_"


def _point_document(doc: Document, sweep: TrainingRunSweep, template: Any, point: Point, slug: str) -> Document:
    spec = template if isinstance(template, dict) else {}
    for path, value in point.values:
        _set(spec, path.split("."), copy.deepcopy(value))
    if sweep.spec.state is not None:  # the sweep's own state: every point at once (a bulk stop, reviewed as one)
        spec["state"] = sweep.spec.state
    origin: dict[str, Any] = {"name": sweep.metadata.name, "point": slug}
    if sweep.spec.promote:  # the sweep's winner: every point carries it, for the planner to pick among them
        origin["promote"] = copy.deepcopy(doc.data["spec"]["promote"])
    if sweep.spec.max_concurrent is not None:  # every point carries its sweep's width, for the planner
        origin["maxConcurrent"] = sweep.spec.max_concurrent
    if sweep.spec.max_concurrent_gpus is not None:
        origin["maxConcurrentGpus"] = sweep.spec.max_concurrent_gpus
    if sweep.spec.clamp_to_budget:
        origin["clampToBudget"] = True
    if sweep.spec.early_stop is not None:  # and its early-stopping rule
        origin["earlyStop"] = copy.deepcopy(doc.data["spec"]["earlyStop"])
    metadata: dict[str, Any] = {"name": f"{sweep.metadata.name}-{slug}", "version": sweep.metadata.version,
                                "sweep": origin}
    if sweep.metadata.project:
        metadata["project"] = sweep.metadata.project
    data = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun", "metadata": metadata, "spec": spec}
    generated = Document(doc.file, doc.index, data, doc.start)
    for written, where in doc.locations.items():
        if written[:2] == ("spec", "template"):
            generated.locations[("spec", *written[2:])] = where
        elif written[:1] == ("metadata",):
            generated.locations[written] = where
        elif written[:2] == ("spec", "promote"):
            generated.locations[("metadata", "sweep", *written[1:])] = where
    for dotted, where in point.locations:
        generated.locations[("spec", *dotted.split("."))] = where
    if sweep.spec.state is not None and ("spec", "state") in doc.locations:
        generated.locations[("spec", "state")] = doc.locations[("spec", "state")]
    return generated


def _set(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value
