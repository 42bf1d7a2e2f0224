"""JSON values as Chariot compares them: configs are JSON, so 1 equals 1.0 and true is not 1. One place decides
that, and whether a value is what a blueprint's schema would fill in anyway."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def same_json(a: Any, b: Any) -> bool:
    """JSON equality (1 == 1.0, but true != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def is_schema_default(prop: Mapping[str, Any], value: Any) -> bool:
    """``value`` is the default the schema property ``prop`` declares: the server would fill it in unasked."""
    return "default" in prop and same_json(prop["default"], value)
