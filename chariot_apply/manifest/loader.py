"""Manifest files → validated ``DeclaredRun``s, or every problem in every file at once."""

from __future__ import annotations

import glob
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from chariot_apply.chariot.quantity import QuantityError, parse_quantity
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import plain_message
from chariot_apply.diagnostics.suggest import closest, did_you_mean
from chariot_apply.manifest.errors import Location, ManifestError, ManifestProblem
from chariot_apply.manifest.expand import (
    DefaultsRule,
    defaults_rule,
    expand_sweep,
    merge_defaults,
    sensitive_from_secrets,
    substitute,
)
from chariot_apply.manifest.model import DeclaredRun, RunDefaults, RunSpec, TrainingRun, TrainingRunSweep
from chariot_apply.manifest.yaml_source import (
    Document,
    Path_,
    format_path,
    parse_documents,
    read_yaml_file,
    read_yaml_text,
)

YAML_SUFFIXES = (".yaml", ".yml")
STDIN, STDIN_NAME = "-", "<stdin>"
PROJECT_FILE_NAMES = frozenset({"chariot-apply.yaml", "chariot-apply.yml"})
QUANTITY_FIELDS = ("cpu", "memory", "ephemeralStorage")
QUANTITY_HINT = 'e.g. "4", "500m", "16Gi"'

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError as SchemaViolation


@cache
def manifest_schema() -> dict[str, Any]:
    text = resources.files("chariot_apply").joinpath("schemas/manifest.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    """The manifest schema's validator. jsonschema (slow to import) is needed only for a manifest the model
    refuses: valid manifests never load it."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(manifest_schema())


def find_manifest_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[ManifestProblem]]:
    """Files named by ``paths``: files as given, directories searched recursively, globs expanded."""
    files: list[Path] = []
    problems: list[ManifestProblem] = []
    for raw in paths:
        text = str(raw)
        if text == STDIN:
            files.append(Path(STDIN))
            continue
        matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))] if glob.has_magic(text) else [Path(text)]
        if not matches or not matches[0].exists():
            problems.append(ManifestProblem(Location(text), "", "no such file or directory",
                                            "check the -f paths, or `manifests` in chariot-apply.yaml",
                                            code=codes.FILE_MISSING))
            continue
        for match in matches:
            if match.is_dir():
                files += sorted(p for p in match.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()
                                and p.name not in PROJECT_FILE_NAMES and not _hidden(p, match))
            elif match.is_file():
                files.append(match)
    unique = list(dict.fromkeys(f if str(f) == STDIN else f.resolve() for f in files))
    return [_display(f) for f in unique], problems


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _display(path: Path) -> Path:
    if str(path) == STDIN:
        return path
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


OUR_KINDS = frozenset({"TrainingRun", "TrainingRunSweep", "RunDefaults"})


@dataclass
class Loaded:
    """What ``load_manifests`` read besides the runs: the files it passed over as not ours."""

    foreign: list[str] = field(default_factory=list)


def read_manifest_text(file: Path) -> tuple[str | None, ManifestProblem | None]:
    """The text of one manifest file (``-``: standard input), or why it cannot be read, located."""
    if str(file) == STDIN:
        return read_yaml_text(sys.stdin.buffer.read(), STDIN_NAME)
    return read_yaml_file(file)


def _not_ours(docs: Sequence[Document]) -> list[ManifestProblem]:
    """The documents of a file of manifests that are not manifests."""
    return [ManifestProblem(d.start, "apiVersion", f"this document is not a chariot-apply manifest "
                            f"(apiVersion {d.data.get('apiVersion')!r})" if isinstance(d.data, dict)
                            else "this document is not a chariot-apply manifest (not a mapping)",
                            "a file that holds manifests holds only manifests: move the others out",
                            code=codes.NOT_A_MANIFEST)
            for d in docs if not _is_ours(d) and d.data is not None]


def load_manifests(paths: Sequence[str | Path], default_project: str, *, variables: Mapping[str, str] | None = None,
                   defaults: Sequence[DefaultsRule] = (), loaded: Loaded | None = None,
                   named_are_manifests: bool = True) -> list[DeclaredRun]:
    """Read, validate and check every manifest; raise ``ManifestError`` with all problems found.

    ``-`` reads standard input. Files found in a directory or by a glob that are not ours (a GitHub workflow, a
    config beside the manifests: no document names ``apiVersion: chariot-apply/...`` or one of our kinds, and the
    text never says ``chariot-apply/``) are passed over and listed in ``loaded.foreign``; a file named outright,
    or standard input, is read as a manifest whatever it holds (unless not ``named_are_manifests``: a pre-commit
    hook names every YAML file); a file that is ours and broken is an
    error. Finding no manifest at all is an error too: an empty set never means "delete everything", and never
    "all is well". ``variables`` fill ``${VAR}``; ``defaults`` are the project file's shared defaults."""
    variables = {} if variables is None else variables
    loaded = loaded if loaded is not None else Loaded()
    files, problems = find_manifest_files(paths)
    named = {Path(str(p)).resolve() for p in paths if named_are_manifests and str(p) != STDIN
             and not glob.has_magic(str(p)) and Path(str(p)).is_file()}  # named outright: a manifest, by the user
    documents: list[Document] = []
    for file in files:
        name = STDIN_NAME if str(file) == STDIN else str(file)
        text, unreadable = read_manifest_text(file)
        if text is None:
            problems += [unreadable] if unreadable else []
            continue
        docs, found = parse_documents(text, name)
        searched = str(file) != STDIN and file.resolve() not in named
        if searched and "chariot-apply/" not in text and not any(_is_ours(d) for d in docs):
            if text.strip():
                loaded.foreign.append(name)
            continue
        documents += [d for d in docs if _is_ours(d)]
        problems += found + _not_ours(docs)
    if not documents and not problems:
        where = ", ".join(map(str, paths)) or "the manifest paths"
        skipped = f" ({len(loaded.foreign)} other YAML file(s) skipped)" if loaded.foreign else ""
        raise ManifestError([ManifestProblem(Location(where), "", f"no manifests found in {where}{skipped}",
                                             "add TrainingRun documents (apiVersion: chariot-apply/v1), or check "
                                             "-f and `manifests` in chariot-apply.yaml", code=codes.NO_MANIFESTS)])
    runs, found = expand_documents(documents, default_project, variables=variables, defaults=defaults)
    problems += found
    problems += _duplicates(runs)
    if problems:
        raise ManifestError(problems)
    return runs


def expand_documents(documents: Sequence[Document], default_project: str, *, variables: Mapping[str, str],
                     defaults: Sequence[DefaultsRule] = ()) -> tuple[list[DeclaredRun], list[ManifestProblem]]:
    """Variables first, then shared defaults under every run and sweep they select, then each sweep's points:
    every document as a checked TrainingRun, or its problems."""
    problems: list[ManifestProblem] = []
    for doc in documents:
        substituted = substitute(doc, variables)
        doc.filled = substituted.filled
        problems += substituted.problems
        sensitive_from_secrets(doc, substituted.secret_paths)
    rules = list(defaults)
    others: list[Document] = []
    for doc in documents:
        if _kind(doc) == "RunDefaults":
            rule, found = check_defaults(doc)
            problems += found
            rules += [rule] if rule is not None else []
        else:
            others.append(doc)
    runs: list[DeclaredRun] = []
    for doc in others:
        merge_defaults(doc, rules, default_project)
        if _kind(doc) == "TrainingRunSweep":
            points, found = check_sweep(doc)
            problems += found
        else:
            points = [doc]
        in_points: dict[ManifestProblem, list[str]] = {}  # a sweep's problem, and the points that have it
        for point in points:
            run, found = check_document(point, default_project)
            origin = point.data["metadata"].get("sweep") if point is not doc else None
            if origin:
                for problem in found:
                    in_points.setdefault(problem, []).append(origin["point"])
            else:
                problems += found
            runs += [run] if run is not None else []
        problems += [_in_points(problem, names) for problem, names in in_points.items()]
    return runs, _once_per_place(problems)


def _once_per_place(problems: list[ManifestProblem]) -> list[ManifestProblem]:
    """One problem a place and key: a defaults value is reported at its line once, not again (in other words)
    for every run that inherits it."""
    seen: set[tuple[Location, str]] = set()
    kept = []
    for problem in problems:
        key = (problem.location, problem.path.rpartition(".")[2])
        if problem.location.line and key in seen:
            continue
        seen.add(key)
        kept.append(problem)
    return kept


def _kind(doc: Document) -> Any:
    return doc.data.get("kind") if isinstance(doc.data, dict) else None


def _in_points(problem: ManifestProblem, points: list[str]) -> ManifestProblem:
    """One problem for every point of a sweep that has it (at the template's or the grid's line), naming them."""
    shown = ", ".join(points[:6]) + (f" and {len(points) - 6} more" if len(points) > 6 else "")
    return replace(problem, message=f"sweep point{'s' if len(points) > 1 else ''} {shown}: {problem.message}")


def check_defaults(doc: Document) -> tuple[DefaultsRule | None, list[ManifestProblem]]:
    """The rule, and its problems: those of its shape drop it; those of its template's values (checked on their
    own, so that a value every run overrides is still reported) leave it in place, as the runs see it."""
    problems = list(_schema_problems(doc))
    if problems:
        return None, _once_per_place(problems + list(_template_problems(doc)))
    try:
        rule = RunDefaults.model_validate(doc.data)
    except PydanticValidationError as exc:
        return None, _pydantic_problems(doc, exc)
    return defaults_rule(doc, rule.spec.selector, rule.spec.template, ("spec", "template")), list(
        _template_problems(doc))


def check_sweep(doc: Document) -> tuple[list[Document], list[ManifestProblem]]:
    """The sweep's point documents (each still to be checked as a TrainingRun), or the sweep's problems."""
    problems = list(_schema_problems(doc))
    if problems:
        return [], problems
    try:
        sweep = TrainingRunSweep.model_validate(doc.data)
    except PydanticValidationError as exc:
        return [], _pydantic_problems(doc, exc)
    return expand_sweep(doc, sweep)


def _pydantic_problems(doc: Document, exc: PydanticValidationError) -> list[ManifestProblem]:
    return [ManifestProblem(doc.where(tuple(e["loc"])), format_path(tuple(e["loc"])), plain_message(e),
                            code=codes.INVALID_VALUE)
            for e in exc.errors()]


def _is_ours(doc: Document) -> bool:
    """Our apiVersion, or one of our kinds (then a wrong apiVersion is reported, not skipped)."""
    return isinstance(doc.data, dict) and (str(doc.data.get("apiVersion", "")).startswith("chariot-apply/")
                                           or (isinstance(kind := doc.data.get("kind"), str) and kind in OUR_KINDS))


def check_document(doc: Document, default_project: str) -> tuple[DeclaredRun | None, list[ManifestProblem]]:
    """The document as a checked run, or every problem in it with where it is.

    A valid document is the common case: the model alone decides it (the schema and the model agree on what
    is valid; a test holds them to it), and the schema, slower but better worded, explains only a refusal."""
    if isinstance(doc.data, dict) and doc.data.get("kind") == "TrainingRun":
        try:
            manifest = TrainingRun.model_validate(doc.data)
        except PydanticValidationError:
            pass
        else:
            return _declared(doc, manifest, default_project), []
    problems = list(_schema_problems(doc))
    if isinstance(doc.data, dict):
        reported = {p.path for p in problems}
        problems += [p for p in _quantity_problems(doc) if p.path not in reported]
    if problems:
        return None, problems
    try:
        manifest = TrainingRun.model_validate(doc.data)
    except PydanticValidationError as exc:  # the schema should have caught it: keep the two in agreement
        return None, _pydantic_problems(doc, exc)
    return _declared(doc, manifest, default_project), []


def _declared(doc: Document, manifest: TrainingRun, default_project: str) -> DeclaredRun:
    return DeclaredRun(manifest, manifest.metadata.project or default_project, doc.start,
                       tuple(doc.locations.items()), tuple(doc.filled.items()))


def _schema_problems(doc: Document) -> Iterable[ManifestProblem]:
    if not isinstance(doc.data, dict):
        yield ManifestProblem(doc.start, "", f"a manifest must be a mapping, not {type(doc.data).__name__}",
                              "start the document with `apiVersion: chariot-apply/v1`", code=codes.NOT_A_MAPPING)
        return
    for error in sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        yield from _explain(doc, error)


#: Fields whose value is a duration (``$defs/duration``).
DURATION_FIELDS = frozenset({"maxDuration", "noProgressFor"})


def _explain(doc: Document, error: SchemaViolation) -> Iterable[ManifestProblem]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, Mapping) else []
        for key in error.instance:
            if key not in allowed:
                close = closest(key, allowed)
                hint = f"did you mean {close!r}?" if close else f"allowed: {', '.join(allowed)}"
                yield ManifestProblem(doc.where((*path, key)), format_path((*path, key)),
                                      f"unknown field {key!r}", hint, code=codes.UNKNOWN_FIELD)
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield ManifestProblem(doc.where(path), format_path(path) or "(document)",
                              f"missing required field {missing!r}", code=codes.MISSING_FIELD)
        return
    if error.validator == "anyOf" and path and path[-1] in QUANTITY_FIELDS:
        yield ManifestProblem(doc.where(path), format_path(path),
                              f"{error.instance!r} is not a positive Kubernetes quantity", QUANTITY_HINT,
                              code=codes.NOT_A_QUANTITY)
        return
    if error.validator == "anyOf" and isinstance(error.instance, dict) and error.context:
        # A shorthand or a mapping (onFailure: recreate, or {action, maxRetries, resume}): a mapping was written,
        # so what is wrong in it is said, at its own line.
        from jsonschema.exceptions import best_match

        within = [e for e in error.context if e.validator != "enum" or e.absolute_path != error.absolute_path]
        if within:
            yield from _explain(doc, best_match(within))
            return
    if error.validator == "anyOf" and path and path[-1] in DURATION_FIELDS:
        yield ManifestProblem(doc.where(path), format_path(path), f"{error.instance!r} is not a duration",
                              "write a duration such as 90s, 30m, 24h or 1h30m", code=codes.NOT_A_DURATION)
        return
    message = error.message
    if error.validator == "const":
        message = f"must be {error.validator_value!r}, not {error.instance!r}"
    written = doc.numbers.get(path)
    if error.validator == "type" and "string" in str(error.validator_value) and written is not None:
        reads = ("as a number where text is expected" if written == str(error.instance)
                 else f"as the number {error.instance}")
        key = format_path(path).rsplit(".", 1)[-1]
        yield ManifestProblem(doc.where(path), format_path(path), f"YAML reads {written} {reads}: quote it",
                              f'write {key}: "{written}"', code=codes.YAML_READS_A_NUMBER)
        return
    yield ManifestProblem(doc.where(path), format_path(path), message, code=codes.INVALID_VALUE)


def _quantity_problems(doc: Document, spec_at: Path_ = ("spec",)) -> Iterable[ManifestProblem]:
    spec: Any = doc.data
    for key in spec_at:
        spec = spec.get(key) if isinstance(spec, dict) else None
    resources_ = spec.get("resources") if isinstance(spec, dict) else None
    if not isinstance(resources_, dict):
        return
    for name in QUANTITY_FIELDS:
        value = resources_.get(name)
        at = (*spec_at, "resources", name)
        if isinstance(value, str):
            try:
                quantity = parse_quantity(value)
            except QuantityError as exc:
                yield ManifestProblem(doc.where(at), format_path(at), str(exc), QUANTITY_HINT,
                                      code=codes.NOT_A_QUANTITY)
                continue
            if quantity.value <= 0:
                yield ManifestProblem(doc.where(at), format_path(at), f"{value!r} must be more than zero",
                                      code=codes.NOT_POSITIVE)


def _template_problems(doc: Document) -> Iterable[ManifestProblem]:
    """A defaults template checked on its own, as far as a part of a spec can be: its keys are spec fields, its
    quantities are quantities. A value every run overrides would otherwise never be reported."""
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        return
    fields = [f.alias or name for name, f in RunSpec.model_fields.items()]
    for key in template:
        if key not in fields:
            at = ("spec", "template", key)
            yield ManifestProblem(doc.where(at), format_path(at), f"unknown field {key!r} in a defaults template",
                                  did_you_mean(str(key), fields), code=codes.UNKNOWN_FIELD)
    yield from _quantity_problems(doc, ("spec", "template"))


def _duplicates(runs: list[DeclaredRun]) -> Iterable[ManifestProblem]:
    seen: dict[tuple[str, str, str], DeclaredRun] = {}
    for run in runs:
        key = (run.project, run.name, run.version)
        if key in seen:
            first = seen[key]
            yield ManifestProblem(run.location, "metadata",
                                  f"run {run.project}/{run.name}@{run.version} is already declared at {first.location}",
                                  "each project/name/version may be declared once; change the version or remove one",
                                  code=codes.DUPLICATE_ADDRESS)
        else:
            seen[key] = run
