"""The public reference of ``chariot.training_v2`` (``tests/data/sdk/``), parsed into the signatures it states:
every function, class, exception and method, with its parameters and return as written, and each model's
fields. The stand-in SDK and our own SDK-shaped facade are held to it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "data" / "sdk" / "chariot-training-v2-sdk.txt"
PLATFORM_FACTS = REFERENCE.with_name("chariot-platform-facts.md")
_DOTTED = re.compile(r"\bchariot(?:\.[A-Za-z_][A-Za-z0-9_]*)+")

_ENTRY = re.compile(r"^- (?:(?P<kind>class|exception) )?(?P<name>[\w.]+)\((?P<params>.*)\)"
                    r"(?: (?P<ret>\S+))? ?\[source\]$")
_FIELD = re.compile(r"^- (?P<name>\w+): (?P<annotation>.+?)(?: = (?P<default>.+))?$")


@dataclass
class Entry:
    """One documented callable: ``module.name`` (or ``module.Class.method``), its parameters and return as text."""

    qualified: str
    kind: str  # function | class | exception | method
    params: str
    returns: str | None
    fields: dict[str, str] = field(default_factory=dict)  # a class's fields: name -> annotation (= default)

    @property
    def module(self) -> str:
        parts = self.qualified.split(".")
        return ".".join(parts[:-2] if self.kind == "method" else parts[:-1])


def entries(text: str | None = None) -> dict[str, Entry]:
    """Every entry of the reference by qualified name (methods as ``module.Class.method``)."""
    found: dict[str, Entry] = {}
    current: Entry | None = None  # the class whose members follow
    documenting = False  # inside a method's "Parameters" or "Returns": its items are not fields
    for line in (text if text is not None else REFERENCE.read_text("utf-8")).splitlines():
        line = line.strip().removeprefix(".")  # the text joins some items to the sentence before them
        if line.endswith(" module") and line.startswith("chariot."):
            current = None
            continue
        if line in ("Parameters", "Returns", "Raises"):
            documenting = line != "Raises"
            continue
        match = _ENTRY.match(line)
        if match:
            name, kind = match["name"], match["kind"]
            returns = match["ret"].strip() if match["ret"] else None
            if "." in name:
                entry = Entry(name, kind or "function", match["params"], returns)
                current = entry if kind else None
            elif current is not None:
                entry = Entry(f"{current.qualified}.{name}", "method", match["params"], returns)
            else:
                continue
            found[entry.qualified] = entry
            documenting = False
            continue
        member = _FIELD.match(line)
        if member and current is not None and current.kind == "class" and not documenting:
            default = f" = {member['default']}" if member["default"] else ""
            current.fields[member["name"]] = member["annotation"] + default
    return found


def documented_names() -> frozenset[str]:
    """Every dotted ``chariot.…`` name the reference and the platform facts mention (a signature, a module
    heading, or prose such as ``chariot.training_v2.lookup_blueprint_id``), and each of their parent modules."""
    names: set[str] = set()
    for text in (REFERENCE.read_text("utf-8"), PLATFORM_FACTS.read_text("utf-8")):
        for name in _DOTTED.findall(text):
            parts = name.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)
