"""Which config values are secret, and how to say a thing about one without saying it.

A key is secret when it looks so (``password``, ``api_key``, ``token`` ...) or the manifest lists it in
``spec.sensitive``. The planner uses this to word validation problems; the renderers, to redact values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

REDACTED = "(sensitive)"
SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|credential|private|auth|signature|(^|[_\-.])(api)?key(s)?$|apikey",
    re.IGNORECASE)


def is_secret(path: str, sensitive: Sequence[str]) -> bool:
    """``path`` is dotted from the config root (``optimizer.api_key``)."""
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        if ".".join(parts[:i]) in sensitive:
            return True
    return any(SECRET_KEY.search(part) for part in parts)


def write_only_paths(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """Dotted config paths the blueprint's JSON schema marks ``writeOnly`` (or ``format: password``): what pydantic
    makes of a ``SecretStr`` field. Local ``$ref``s (``#/$defs/...``) are followed, once each."""
    found: list[str] = []

    def walk(node: Any, prefix: str, seen: frozenset[str]) -> None:
        if not isinstance(node, Mapping):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, Mapping) else None
            walk(target, prefix, seen | {ref})
        if prefix and (node.get("writeOnly") is True or node.get("format") == "password"):
            found.append(prefix)
            return
        for combinator in ("allOf", "anyOf", "oneOf"):
            for option in node.get(combinator) or ():
                walk(option, prefix, seen)
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            for key, child in properties.items():
                walk(child, f"{prefix}.{key}" if prefix else str(key), seen)

    walk(schema, "", frozenset())
    return tuple(dict.fromkeys(found))


def secret_values(config: Any, sensitive: Sequence[str], prefix: str = "") -> Iterator[Any]:
    """Every value in ``config`` that sits under a secret key (whole subtrees, and their leaves)."""
    if not isinstance(config, Mapping):
        return
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if is_secret(path, sensitive):
            yield value
            yield from _leaves(value)
        else:
            yield from secret_values(value, sensitive, path)


def _leaves(value: Any) -> Iterator[Any]:
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
    for item in items:
        yield item
        yield from _leaves(item)


def scrub(message: str, config: Mapping[str, Any], sensitive: Sequence[str]) -> str:
    """``message`` (a server's validation text, an error) with every secret value of ``config`` replaced by
    ``(sensitive)``, in each spelling a message may use: Python's repr, JSON, and plain text."""
    return scrub_spellings(message, secret_spellings(config, sensitive))


def secret_spellings(config: Mapping[str, Any], sensitive: Sequence[str]) -> tuple[str, ...]:
    """Every spelling of every secret value of ``config``, in the order ``scrub_spellings`` replaces them: the
    longer values first, and each value's longer spellings first. Worked out once for many messages."""
    found: list[str] = []
    for value in sorted(secret_values(config, sensitive), key=lambda v: -len(repr(v))):
        if value is None or isinstance(value, bool):
            continue
        spellings = {repr(value), json.dumps(value, ensure_ascii=False), json.dumps(value)}
        if isinstance(value, str | int | float) and len(str(value)) >= 3:
            spellings.add(str(value))
        found += sorted(spellings, key=len, reverse=True)
    return tuple(found)


def scrub_spellings(message: str, spellings: Sequence[str]) -> str:
    for spelling in spellings:
        message = message.replace(spelling, REDACTED)
    return message
