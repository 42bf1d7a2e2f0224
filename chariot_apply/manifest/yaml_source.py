"""YAML documents with the line and column of every value, and duplicate keys caught (PyYAML keeps the last)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chariot_apply.manifest.errors import Location, ManifestProblem

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    file: str
    index: int  # 0-based position in the file
    data: Any
    start: Location
    locations: dict[Path_, Location] = field(default_factory=dict)

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


def parse_documents(text: str, file: str) -> tuple[list[Document], list[ManifestProblem]]:
    """All non-empty documents of a YAML stream, or the syntax error that stopped the reading."""
    loader = yaml.SafeLoader(text)
    documents: list[Document] = []
    problems: list[ManifestProblem] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
                index += 1
                continue
            doc = Document(file, index, None, _loc(file, node))
            doc.data = _build(loader, node, (), doc, problems)
            documents.append(doc)
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        message = " ".join(filter(None, [exc.context, exc.problem])) or str(exc)
        problems.append(ManifestProblem(location, "", f"invalid YAML: {message}",
                                        "check indentation, quoting and the ':' after each key"))
    except yaml.YAMLError as exc:
        problems.append(ManifestProblem(Location(file), "", f"invalid YAML: {exc}"))
    finally:
        loader.dispose()
    return documents, problems


def _build(loader: yaml.SafeLoader, node: Node, path: Path_, doc: Document,
           problems: list[ManifestProblem]) -> Any:
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in out:
                first = doc.locations[child]
                problems.append(ManifestProblem(_loc(doc.file, key_node), format_path(child),
                                                f"duplicate key {key!r} (first at line {first.line})",
                                                "YAML keeps only the last one; remove one of them"))
                continue
            doc.locations[child] = _loc(doc.file, key_node)
            out[key] = _build(loader, value_node, child, doc, problems)
        return out
    if isinstance(node, SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            doc.locations[(*path, i)] = _loc(doc.file, item)
            items.append(_build(loader, item, (*path, i), doc, problems))
        return items
    return loader.construct_object(node, deep=True)
