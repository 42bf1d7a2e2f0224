"""``--target`` and ``--exclude``: address globs that choose which declared runs a command covers. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from chariot_apply.plan.model import PlanOptions


def matches(addr: str, selector: str) -> bool:
    """``selector`` is an address glob; without ``@version`` it means every version of that name."""
    return fnmatchcase(addr, selector if "@" in selector else f"{selector}@*")


def selected(addr: str, options: PlanOptions) -> bool:
    if options.targets and not any(matches(addr, t) for t in options.targets):
        return False
    return not any(matches(addr, e) for e in options.excludes)


def unmatched_selectors(addresses: Iterable[str], options: PlanOptions) -> tuple[str, ...]:
    """The --target and --exclude selectors that match none of ``addresses``: a typo, never "no changes"."""
    known = list(addresses)
    return tuple(s for s in (*options.targets, *options.excludes) if not any(matches(a, s) for a in known))
