"""References between declared runs: ``spec.dependsOn`` and ``${run:ADDRESS.WHAT}`` in config values. Pure.

``WHAT`` is ``checkpoint.last``, ``checkpoint.best(metric=TAG[,mode=min|max])`` (the upstream's complete
checkpoint; a tag may hold ``/`` and parentheses) or ``model`` (the model the upstream's ``spec.promote`` made).
An address is ``project/name@version``, or ``name@version`` in the referring run's own project. A run with
references is created only once every upstream has finished, and each reference is then replaced by the id it
resolves to; once created, the values there are the live run's (they were decided at its create).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chariot_apply.manifest.model import DeclaredRun

REFERENCE = re.compile(r"\$\{run:(?P<body>[^}]*)\}")
_BEST = ".checkpoint.best("


@dataclass(frozen=True)
class Reference:
    """``${run:...}`` as written at ``path`` (``spec.config.start_model.checkpoint_id``)."""

    text: str
    address: str
    what: Literal["model", "last", "best"]
    path: str
    metric: str | None = None
    mode: Literal["min", "max"] = "min"


@dataclass(frozen=True)
class Dependency:
    """An upstream address as written, and where (``spec.dependsOn[0]`` or a reference's path)."""

    address: str
    path: str


class ReferenceError_(ValueError):
    """A reference that does not parse, with where it is written."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def parse_reference(text: str, path: str) -> Reference:
    body = text[len("${run:"):-1]
    if body.endswith(".model"):
        return Reference(text, body[:-len(".model")], "model", path)
    if body.endswith(".checkpoint.last"):
        return Reference(text, body[:-len(".checkpoint.last")], "last", path)
    at = body.rfind(_BEST)
    if at > 0 and body.endswith(")"):
        args = _arguments(body[at + len(_BEST):-1], path)
        metric = args.pop("metric", None)
        mode = args.pop("mode", "min")
        if not metric:
            raise ReferenceError_(path, f"{text}: checkpoint.best needs metric=TAG")
        if mode not in ("min", "max"):
            raise ReferenceError_(path, f"{text}: mode is min or max, not {mode!r}")
        if args:
            raise ReferenceError_(path, f"{text}: unknown argument(s) {sorted(args)} (metric, mode)")
        return Reference(text, body[:at], "best", path, metric=metric, mode=mode)  # type: ignore[arg-type]
    raise ReferenceError_(path, f"{text} is not a reference: write ${{run:ADDRESS.checkpoint.last}}, "
                                "${run:ADDRESS.checkpoint.best(metric=TAG)} or ${run:ADDRESS.model}")


def _arguments(text: str, path: str) -> dict[str, str]:
    """``metric=metrics/mAP50(B),mode=max``: split at the commas before ``mode=`` and ``metric=``."""
    found: dict[str, str] = {}
    for part in re.split(r",\s*(?=(?:metric|mode)=)", text.strip()):
        key, sep, value = part.partition("=")
        if not sep:
            raise ReferenceError_(path, f"checkpoint.best({text}): write key=value")
        found[key.strip()] = value.strip()
    return found


def references_in(value: Any, path: str = "spec.config") -> Iterator[Reference]:
    """Every reference in a config, with its path; raises ``ReferenceError_`` at the first one that does not parse."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from references_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from references_in(item, f"{path}[{i}]")
    elif isinstance(value, str) and "${run:" in value:
        for match in REFERENCE.finditer(value):
            yield parse_reference(match.group(0), path)
        if not REFERENCE.search(value):
            raise ReferenceError_(path, f"{value!r}: a ${{run:... is not closed with }}")


def dependencies(run: DeclaredRun) -> list[Dependency]:
    """What ``run`` waits for: its ``dependsOn`` and the runs its config refers to (raises ``ReferenceError_``)."""
    found = [Dependency(a, f"spec.dependsOn[{i}]") for i, a in enumerate(run.spec.depends_on)]
    found += [Dependency(r.address, r.path) for r in references_in(run.spec.config)]
    return found


def qualified(address: str, own_project: str) -> tuple[str, str, str] | None:
    """(project as written, name, version) of ``address``; ``name@version`` is in ``own_project``."""
    project, _, rest = address.rpartition("/") if "/" in address else ("", "", address)
    name, at, version = rest.partition("@")
    if not at or not name or not version:
        return None
    return project or own_project, name, version


def substitute(value: Any, resolved: Mapping[str, str]) -> Any:
    """``value`` with each reference replaced by what it resolved to (a whole-string reference by the value)."""
    if isinstance(value, dict):
        return {k: substitute(v, resolved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, resolved) for v in value]
    if isinstance(value, str) and "${run:" in value:
        return REFERENCE.sub(lambda m: resolved.get(m.group(0), m.group(0)), value)
    return value


def as_created(declared: Any, live: Any) -> Any:
    """``declared`` with the live value wherever it holds a reference: what was resolved at the create is not a
    difference."""
    if isinstance(declared, dict):
        live_dict = live if isinstance(live, dict) else {}
        return {k: as_created(v, live_dict.get(k)) for k, v in declared.items()}
    if isinstance(declared, list):
        live_list = live if isinstance(live, list) else []
        return [as_created(v, live_list[i] if i < len(live_list) else None) for i, v in enumerate(declared)]
    return live if _refers(declared) and live is not None else declared


def _refers(value: Any) -> bool:
    if isinstance(value, str):
        return "${run:" in value
    if isinstance(value, dict):
        return any(_refers(v) for v in value.values())
    if isinstance(value, list):
        return any(_refers(v) for v in value)
    return False


def cycles(edges: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """For each node on a cycle, the cycle through it (``a -> b -> a``), found by depth-first search."""
    on_cycle: dict[str, list[str]] = {}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                ring = path[path.index(nxt):]
                for i, member in enumerate(ring):  # said from each member's own point of view
                    on_cycle.setdefault(member, [*ring[i:], *ring[:i], member])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return on_cycle
