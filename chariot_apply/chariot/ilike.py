"""SQL ``ILIKE`` exactly as PostgreSQL does it, used by the emulator and for escaping literals.

``%`` matches any run of characters (newlines included), ``_`` exactly one
character, ``\\`` makes the next character literal, and the whole value must
match. Case: PostgreSQL lowercases pattern and value character by character
(simple mapping) and compares, so ``É`` ILIKE ``é`` and ``K`` (Kelvin) ILIKE ``k``,
but ``ß`` does not match ``SS`` and ``\\u017f`` (long s) does not match ``s`` (which
Python's ``re.IGNORECASE`` would allow). A pattern ending in a lone ``\\`` is an
error, as in PostgreSQL ("LIKE pattern must not end with escape character").
"""

from __future__ import annotations

import re
from functools import lru_cache

_SPECIAL = ("\\", "%", "_")


class IlikePatternError(ValueError):
    pass


def fold(text: str) -> str:
    """Per-character simple lowercase (``İ`` → ``i``, not Python's two-character ``i̇``)."""
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in text)


def _tokens(pattern: str) -> list[tuple[bool, str]]:
    """(is a wildcard, character) pairs, escapes resolved."""
    out: list[tuple[bool, str]] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                raise IlikePatternError(f"ILIKE pattern {pattern!r} must not end with escape character")
            out.append((False, nxt))
        else:
            out.append((ch in ("%", "_"), ch))
    return out


@lru_cache(maxsize=4096)
def compile_ilike(pattern: str) -> re.Pattern[str]:
    """A regular expression to ``fullmatch`` against ``fold(value)``, in time linear in the value's length
    times the pattern's, whatever the pattern (``%%%%%%%%x`` once took seconds on a 22-character name).

    Between ``%`` signs the pattern is a run of fixed-length segments; the leftmost place where each
    segment fits is always a right choice (the classic argument for wildcard matching), so each is found
    by an atomic lazy search that is never backtracked into, and only the last is anchored at the end.
    """
    segments = [""]
    for wild, ch in _tokens(pattern):
        if wild and ch == "%":
            segments.append("")
        else:
            segments[-1] += "." if wild else re.escape(fold(ch))
    if len(segments) == 1:
        return re.compile(segments[0], re.DOTALL)
    first, *middle, last = segments
    body = first + "".join(f"(?>.*?{segment})" for segment in middle if segment) + ".*" + last
    return re.compile(body, re.DOTALL)


def literal(pattern: str) -> str | None:
    """The folded text a wildcard-free pattern matches exactly; ``None`` when it has wildcards."""
    tokens = _tokens(pattern)
    if any(wild for wild, _ in tokens):
        return None
    return fold("".join(ch for _, ch in tokens))


def ilike(value: str, pattern: str) -> bool:
    """True when ``value ILIKE pattern``."""
    return compile_ilike(pattern).fullmatch(fold(value)) is not None


def escape_ilike(text: str) -> str:
    """A pattern that matches ``text`` (case-insensitively) and nothing else."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def has_wildcards(pattern: str) -> bool:
    return literal(pattern) is None
