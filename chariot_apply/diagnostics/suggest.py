"""Did you mean: the one close match for a typo among the names that exist (case folded). Pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(given: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice ``given`` most likely meant, or None when none is close."""
    by_fold = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(given.casefold(), list(by_fold), n=1, cutoff=cutoff)
    return by_fold[close[0]] if close else None


def did_you_mean(given: str, choices: Iterable[str], cutoff: float = 0.6, *, listed: int = 8) -> str:
    """``did you mean 'x'?``, else the choices there are (the first ``listed``), else nothing to say."""
    options = sorted(set(choices))
    match = closest(given, options, cutoff)
    if match is not None:
        return f"did you mean {match!r}?"
    if not options:
        return "there are none"
    more = f" and {len(options) - listed} more" if len(options) > listed else ""
    return "choose one of " + ", ".join(repr(o) for o in options[:listed]) + more
