"""Problems as diagnostics: one shape for a manifest's problems and a plan's, drawn as code frames for a terminal
(rustc's and Elm's: the line, a caret under the key or value, the code's title) and as JSON for editors and
reviewdog (``schemas/diagnostics.schema.json``). Pure: the caller reads the files and passes their lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from chariot_apply.diagnostics import codes
from chariot_apply.manifest.errors import ManifestProblem
from chariot_apply.plan.model import Invalid, Plan, Violation
from chariot_apply.plan.sensitive import REDACTED, SECRET_KEY, is_secret

DIAGNOSTICS_VERSION = 1
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+)$")


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int  # 1-based; 0: the file as a whole
    column: int  # 1-based; 0: the line as a whole
    code: str
    title: str
    message: str
    path: str  # the field path in the document (spec.resources.memory), "" for none
    fix: str | None
    severity: str = "error"
    end_column: int = 0  # just past the key or value the problem is about, once read from the file (0: unknown)
    secret: bool = False  # its value is sensitive: a frame shows the key, never the value (not in the JSON)


def _title(code: str) -> str:
    found = codes.explain(code)
    return found.title if found is not None else ""


def from_manifest_problems(problems: Iterable[ManifestProblem]) -> list[Diagnostic]:
    return [Diagnostic(file=p.location.file, line=p.location.line, column=p.location.column, code=p.code,
                       title=_title(p.code), message=p.message, path=p.path, fix=p.hint) for p in problems]


def from_plan(plan: Plan) -> list[Diagnostic]:
    """The located problems of a plan's invalid runs and policy violations."""
    found = []
    for item in plan.items:
        if not isinstance(item, Invalid | Violation):
            continue
        for problem in item.problems:
            match = _LOCATION.match(problem.location)
            file, line, column = (match["file"], int(match["line"]), int(match["column"])) if match \
                else (problem.location, 0, 0)
            config_path = problem.path.removeprefix("spec.config").removeprefix(".")
            secret = problem.path.startswith("spec.config") and is_secret(config_path, item.sensitive)
            found.append(Diagnostic(file=file, line=line, column=column, code=problem.code,
                                    title=_title(problem.code), message=problem.message,
                                    path=problem.path, fix=item.reason or None, secret=secret))
    return found


#: A plan's located warning: ``runs/a.yaml:12:5: spec.config.learing_rate: unknown config key ...; why``.
_LOCATED_WARNING = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<path>spec\.config\.\S+): "
                              r"(?P<message>unknown config key [^;]+); (?P<why>.+)$")


def warnings_of(plan: Plan) -> list[Diagnostic]:
    """The plan's located warnings (a config key the blueprint does not know) as diagnostics of severity
    ``warning``."""
    found = []
    for warning in plan.warnings:
        match = _LOCATED_WARNING.match(warning)
        if match:
            found.append(Diagnostic(file=match["file"], line=int(match["line"]), column=int(match["column"]),
                                    code=codes.CONFIG_UNKNOWN_KEY, title=_title(codes.CONFIG_UNKNOWN_KEY),
                                    message=match["message"], path=match["path"], fix=match["why"],
                                    severity="warning"))
    return found


def _token_width(text: str, start: int) -> int:
    """How many characters the key or value starting at ``start`` spans: a quoted string to its quote, else to
    ``: `` (a key), `` #`` (a comment) or the end of the line."""
    rest = text[start:]
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        return end + 1 if end > 0 else len(rest.rstrip())
    for stop in (": ", " #"):
        at = rest.find(stop)
        if at >= 0:
            rest = rest[:at]
    rest = rest.rstrip().removesuffix(":")
    return max(1, len(rest))


#: Codes about a key itself: the caret goes under the key. For the others it goes under the key's value, where the
#: value is on the key's line (a problem is located at its key).
KEY_CODES = frozenset({codes.UNKNOWN_FIELD, codes.YAML_DUPLICATE_KEY, codes.YAML_KEY_NOT_TEXT, codes.MISSING_FIELD,
                       codes.PROJECT_FILE_KEY, codes.CONFIG_UNKNOWN_KEY, codes.POLICY_KEY})


def span(lines: Sequence[str], line: int, column: int, *, under_value: bool) -> tuple[int, int] | None:
    """Where the key at ``column`` (with ``under_value``: its value, if it is on that line) starts and ends,
    1-based and end exclusive; None when the line is not in the file."""
    if not 0 < line <= len(lines):
        return None
    text = lines[line - 1].rstrip("\r\n").expandtabs(1)
    start = min(max(column - 1, len(text) - len(text.lstrip())), len(text))
    if under_value:
        key_end = text.find(": ", start)
        after = text[key_end + 2:] if key_end >= 0 else ""
        value_at = key_end + 2 + len(after) - len(after.lstrip()) if key_end >= 0 else -1
        if 0 <= value_at < len(text) and text[value_at] not in "#{[|>":
            start = value_at
    width = _token_width(text, start) if start < len(text) else 1
    return start + 1, start + 1 + width


def located(diagnostic: Diagnostic, source: Callable[[str], Sequence[str] | None]) -> Diagnostic:
    """The diagnostic pointing at the key or the value it is about, as read from its file."""
    lines = source(diagnostic.file) if diagnostic.line else None
    found = span(lines or (), diagnostic.line, diagnostic.column, under_value=diagnostic.code not in KEY_CODES)
    return replace(diagnostic, column=found[0], end_column=found[1]) if found else diagnostic


def frame(lines: Sequence[str], diagnostic: Diagnostic) -> list[str]:
    """The diagnostic's line with a caret under what it is about and its code's title beside it; nothing when the
    line is not in the file (a problem of the whole file)."""
    if not 0 < diagnostic.line <= len(lines) or not diagnostic.end_column:
        return []
    text = lines[diagnostic.line - 1].rstrip("\r\n").expandtabs(1)
    gutter = " " * len(str(diagnostic.line))
    carets = "^" * (diagnostic.end_column - diagnostic.column)
    key, colon, value = text.partition(": ")
    if colon and value.strip() and (diagnostic.secret or SECRET_KEY.search(key.strip(" -"))):
        text = f"{key}: {REDACTED}"  # the file's line, but never a secret value of it
        if diagnostic.column > len(key):
            carets = "^" * len(REDACTED)
    return [f"{gutter} |", f"{diagnostic.line} | {text}",
            f"{gutter} | {' ' * (diagnostic.column - 1)}{carets} {diagnostic.title}".rstrip()]


def render_terminal(diagnostics: Sequence[Diagnostic], source: Callable[[str], Sequence[str] | None]) -> list[str]:
    """Each diagnostic as its one-line summary (file:line:column: path: message (fix) [code]) and its frame."""
    out: list[str] = []
    for d in diagnostics:
        where = f"{d.file}:{d.line}:{d.column}" if d.column else f"{d.file}:{d.line}" if d.line else d.file
        out.append(f"{where}: " + (f"{d.path}: " if d.path else "") + d.message
                   + (f" ({d.fix})" if d.fix else "") + f" [{d.code}]")
        if d.code != codes.FILE_UNREADABLE:  # its line is not text
            at = located(d, source)
            out += [f"  {row}" for row in frame(source(d.file) or () if d.line else (), at)]
    return out


def diagnostics_json(diagnostics: Sequence[Diagnostic], source: Callable[[str], Sequence[str] | None], *,
                     checked: int | None) -> str:
    """The machine-readable form (``schemas/diagnostics.schema.json``): what ``validate --format json`` prints."""
    shown = [{k: v for k, v in asdict(located(d, source)).items() if k != "secret"} for d in diagnostics]
    valid = not any(d.severity == "error" for d in diagnostics)
    return json.dumps({"version": DIAGNOSTICS_VERSION, "valid": valid, "manifests": checked,
                       "diagnostics": shown}, indent=2) + "\n"
