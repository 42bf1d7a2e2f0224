"""Durations as people write them in manifests and on the command line (``90s``, ``30m``, ``24h``, ``1h30m``,
``2d``), and back into words: one parser for both, so that a manifest and a flag never disagree."""

from __future__ import annotations

import math
import re

UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_duration_text(text: str) -> float:
    """Seconds in ``text``; a bare number is seconds. ValueError says what a duration looks like."""
    written = text.strip()
    if len(written) > 40:
        raise ValueError(f"{text[:40]!r}... is not a duration such as 90s, 30m, 24h or 1h30m")
    try:
        seconds = float(written)
    except ValueError:
        parts = _PART.findall(written)
        if not parts or "".join(n + u for n, u in parts) != written:
            raise ValueError(f"{text!r} is not a duration such as 90s, 30m, 24h or 1h30m") from None
        seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a duration such as 90s, 30m, 24h or 1h30m")
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """``1h 30m``, ``45s``, ``2d 3h``: the two largest units, for a plan line."""
    left = max(0, round(seconds))
    parts = []
    for unit, size in UNITS.items():
        count, left = divmod(left, int(size))
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) or "0s"
