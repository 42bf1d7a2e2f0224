"""SQL ``ILIKE`` exactly as PostgreSQL does it, used by the emulator and for escaping literals.

``%`` matches any run of characters (newlines included), ``_`` exactly one
character, ``\\`` makes the next character literal, the whole value must match,
and case is compared by simple per-character case folding (``É`` ILIKE ``é``,
but ``ß`` does not match ``SS``). A pattern ending in a lone ``\\`` is an error,
as in PostgreSQL ("LIKE pattern must not end with escape character").
"""

from __future__ import annotations

import re
from functools import lru_cache

_SPECIAL = ("\\", "%", "_")


class IlikePatternError(ValueError):
    pass


@lru_cache(maxsize=4096)
def compile_ilike(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                raise IlikePatternError(f"ILIKE pattern {pattern!r} must not end with escape character")
            out.append(re.escape(nxt))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def ilike(value: str, pattern: str) -> bool:
    """True when ``value ILIKE pattern``."""
    return compile_ilike(pattern).fullmatch(value) is not None


def escape_ilike(literal: str) -> str:
    """A pattern that matches ``literal`` (case-insensitively) and nothing else."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in literal)


def has_wildcards(pattern: str) -> bool:
    """True when the pattern can match more than one spelling (ignoring case)."""
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ("%", "_"):
            return True
    return False
