"""YAML documents with the line and column of every value, and duplicate keys caught (PyYAML keeps the last).

Whatever the text, the answer is documents or located problems, never an exception and never a hang:
control characters, nesting deeper than ``MAX_DEPTH``, aliases that expand past ``MAX_VALUES`` (a "billion
laughs"), integers beyond Python's digit limit, and YAML types JSON cannot carry (dates, binary, .inf)
are each refused where they are written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import os_words
from chariot_apply.manifest.errors import Location, ManifestProblem

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    file: str
    index: int  # 0-based position in the file
    data: Any
    start: Location
    locations: dict[Path_, Location] = field(default_factory=dict)
    numbers: dict[Path_, str] = field(default_factory=dict)  # a number's text as written (1.10 reads as 1.1)
    filled: dict[Path_, tuple[str, ...]] = field(default_factory=dict)  # values that came from ${VARIABLES}

    def where(self, path: Path_) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        while path not in self.locations and path:
            path = path[:-1]
        return self.locations.get(path, self.start)


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _loc(file: str, node: Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


#: Deeper than this, a manifest is a mistake (a real one is about six levels deep).
MAX_DEPTH = 64
#: Values one document may expand to, aliases included.
MAX_VALUES = 100_000
JSON_SCALARS = (str, int, float, bool, type(None))
#: libyaml's loader when PyYAML was built with it (3x faster on large manifests), else the pure one: both give
#: every node its line and column.
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STR_TAG = "tag:yaml.org,2002:str"


class _Loader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader, remembering how each scalar resolved: 1,000 manifests repeat the same keys and values
    (``apiVersion``, ``metadata``, ``cpu``...), and libyaml's composer asks PyYAML's Python resolver, regular
    expression by regular expression, for every one of them (a third of the loading time)."""

    _tags: dict[tuple[str, Any], str] = {}

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or len(value) > 64:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)  # implicit: (plain, quoted), a tuple from both parsers
        tag = self._tags.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._tags) < 100_000:
                self._tags[key] = tag
        return tag


LOADER: type[yaml.SafeLoader] = _Loader


class _TooLarge(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def read_yaml_file(file: Path, name: str | None = None) -> tuple[str | None, ManifestProblem | None]:
    """The text of a YAML file, or why it cannot be read (no permission, not UTF-8: a binary file), located (at
    ``name``, the file as the user knows it)."""
    try:
        return read_yaml_text(file.read_bytes(), name or str(file))
    except OSError as exc:
        return None, ManifestProblem(Location(name or str(file)), "", f"cannot read: {os_words(exc)}",
                                     code=codes.FILE_UNREADABLE)


def read_yaml_text(data: bytes, name: str) -> tuple[str | None, ManifestProblem | None]:
    """``data`` as UTF-8 text, or the line and offset of the first byte that is not."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return None, ManifestProblem(Location(name, line), "", f"cannot read: byte {data[exc.start]:#04x} at offset "
                                     f"{exc.start} is not UTF-8 (a binary file, or another encoding?)",
                                     "save the file as UTF-8 text", code=codes.FILE_UNREADABLE)


def parse_documents(text: str, file: str) -> tuple[list[Document], list[ManifestProblem]]:
    """All non-empty documents of a YAML stream, or the syntax error that stopped the reading."""
    documents: list[Document] = []
    problems: list[ManifestProblem] = []
    loader: yaml.SafeLoader | None = None
    try:
        loader = LOADER(text)  # reading starts here: a control character is refused at once
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
                index += 1
                continue
            doc = Document(file, index, None, _loc(file, node))
            budget = [MAX_VALUES]
            try:
                doc.data = _build(loader, node, (), doc, problems, budget)
            except _TooLarge as exc:
                problems.append(ManifestProblem(_loc(file, exc.node), "", exc.message,
                                                "a manifest is a few dozen values; check the aliases (*name) "
                                                "and the indentation", code=codes.YAML_TOO_LARGE))
                doc.data = None
            documents.append(doc)
            index += 1
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position) if isinstance(exc.position, int) else (0, 0)
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        problems.append(ManifestProblem(Location(file, line, column), "",
                                        f"invalid YAML: the control character U+{code:04X} is not allowed in YAML",
                                        "remove the control character, or write it as an escape in a "
                                        "double-quoted string", code=codes.YAML_CONTROL_CHARACTER))
    except RecursionError:  # PyYAML composes recursively: a thousand levels exhaust Python's stack first
        at_line, at_column = getattr(loader, "line", None), getattr(loader, "column", None)  # not in the C loader
        where = Location(file, at_line + 1, at_column + 1) if at_line is not None and at_column is not None \
            else Location(file)
        problems.append(ManifestProblem(where, "", f"invalid YAML: nested deeper than {MAX_DEPTH} levels",
                                        "a manifest is a few levels deep; check the brackets and indentation",
                                        code=codes.YAML_TOO_LARGE))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        message = " ".join(filter(None, [exc.context, exc.problem])) or str(exc)
        problems.append(ManifestProblem(location, "", f"invalid YAML: {message}",
                                        "check indentation, quoting and the ':' after each key",
                                        code=codes.YAML_SYNTAX))
    except yaml.YAMLError as exc:
        problems.append(ManifestProblem(Location(file), "", f"invalid YAML: {exc}", code=codes.YAML_SYNTAX))
    finally:
        if loader is not None:
            loader.dispose()
    return documents, problems


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _build(loader: yaml.SafeLoader, node: Node, path: Path_, doc: Document,
           problems: list[ManifestProblem], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge(node, f"the document expands to more than {MAX_VALUES:,} values")
    if len(path) > MAX_DEPTH:
        raise _TooLarge(node, f"values are nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                scalar = _scalar(loader, key_node, path, doc, problems)
                key = scalar if isinstance(scalar, str) else str(scalar)
            else:
                problems.append(ManifestProblem(_loc(doc.file, key_node), format_path(path),
                                                "a key must be text, not a list or a mapping",
                                                code=codes.YAML_KEY_NOT_TEXT))
                continue
            child = (*path, key)
            if key in out:
                first = doc.locations[child]
                problems.append(ManifestProblem(_loc(doc.file, key_node), format_path(child),
                                                f"duplicate key {key!r} (first at line {first.line})",
                                                "YAML keeps only the last one; remove one of them",
                                                code=codes.YAML_DUPLICATE_KEY))
                continue
            doc.locations[child] = _loc(doc.file, key_node)
            out[key] = _build(loader, value_node, child, doc, problems, budget)
        return out
    if isinstance(node, SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            doc.locations[(*path, i)] = _loc(doc.file, item)
            items.append(_build(loader, item, (*path, i), doc, problems, budget))
        return items
    return _scalar(loader, node, path, doc, problems)


def _shown(node: Node) -> str:
    text = str(node.value)
    return repr(text if len(text) <= 40 else text[:20] + "..." + text[-10:])


def _scalar(loader: yaml.SafeLoader, node: Node, path: Path_, doc: Document,
            problems: list[ManifestProblem]) -> Any:
    """A scalar JSON can carry; anything else is a located problem (and ``None`` in its place)."""
    if node.tag == STR_TAG:  # most of a manifest: no need for PyYAML's constructor machinery
        return node.value
    try:
        value = loader.construct_object(node, deep=True)
    except ValueError:  # an integer past Python's digit limit (4,300), or a malformed timestamp
        problems.append(ManifestProblem(_loc(doc.file, node), format_path(path),
                                        f"{_shown(node)} is not a value chariot-apply can read (too long a number?)",
                                        "quote it to make it text", code=codes.YAML_UNREADABLE_VALUE))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(ManifestProblem(_loc(doc.file, node), format_path(path),
                                        f"{_shown(node)} is not a number JSON can carry",
                                        "use a finite number, or quote it to make it text",
                                        code=codes.YAML_UNREADABLE_VALUE))
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        doc.numbers[path] = node.value
    if not isinstance(value, JSON_SCALARS):
        kind = {"tag:yaml.org,2002:timestamp": "a YAML date", "tag:yaml.org,2002:binary": "YAML binary data",
                "tag:yaml.org,2002:set": "a YAML set"}.get(node.tag, f"a YAML {type(value).__name__}")
        problems.append(ManifestProblem(_loc(doc.file, node), format_path(path),
                                        f"{kind} ({_shown(node)}) cannot be sent to Chariot as JSON",
                                        "quote it to make it text", code=codes.YAML_UNREADABLE_VALUE))
        return None
    return value
