"""Which runs are ours: a marker line at the end of a run's notes, with our owner id and a hash of the spec.

    Baseline for the Q4 report          <- the user's notes, shown and compared without the marker

    [chariot-apply owner=team-vision spec=3f2a9c0d1e4b5a69 secret=hub.password apply=9c41d2e07a3b]

``keys`` is a digest of every path the manifest declared (config keys at every depth, the optional resources):
a later edit can then tell a key the manifest dropped (a difference) from one the server filled in from the
blueprint's defaults (none), on every backend, without the blueprint's schema, which the SDK cannot read.
``secret`` lists the config paths the manifest marked ``sensitive`` (names, never values), so that export,
which sees only the live run, writes them as variable references too. ``apply`` names the one
``chariot-apply apply`` process that created the run: when two applies race and both create a run at one
address, each can tell its own duplicates from the other's, and deletes only its own. Markers without it
(written before it existed, or by ``plan``) still parse.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

MARKER = re.compile(r"(?:\n\n|^)\[chariot-apply owner=(?P<owner>[A-Za-z0-9._-]+) spec=(?P<spec>[0-9a-f]{16})"
                    r"(?: sweep=(?P<sweep>[A-Za-z0-9._-]+) point=(?P<point>[A-Za-z0-9._-]+))?"
                    r"(?: keys=(?P<keys>[A-Za-z0-9_-]*))?"
                    r"(?: secret=(?P<secret>[A-Za-z0-9._%,-]+))?"
                    r"(?: pr=(?P<pr>[0-9]{1,10}))?"
                    r"(?: apply=(?P<apply>[0-9a-f]{8,32}))?\]\s*\Z")


@dataclass(frozen=True)
class Marker:
    owner: str
    spec: str
    apply: str | None = None  # the apply process that created the run
    sweep: str | None = None  # the sweep and point the run was declared by
    point: str | None = None
    secret: tuple[str, ...] = ()  # config paths the manifest marked sensitive: never exported in clear
    pull_request: int | None = None  # the pull request whose merge created it (the Action's apply): its results
    keys: str | None = None  # digests of the paths the manifest declared (``declared_keys``); None: not recorded

    def render(self) -> str:
        origin = f" sweep={self.sweep} point={self.point}" if self.sweep and self.point else ""
        origin += f" keys={self.keys}" if self.keys is not None else ""
        secret = f" secret={','.join(quote(p, safe='._-') for p in self.secret)}" if self.secret else ""
        made_by = f" apply={self.apply}" if self.apply else ""
        pull = f" pr={self.pull_request}" if self.pull_request is not None else ""
        return f"[chariot-apply owner={self.owner} spec={self.spec}{origin}{secret}{pull}{made_by}]"

    def same_run(self, other: Marker | None) -> bool:
        """The same owner and spec: the same declared run, whichever apply created it."""
        return other is not None and (other.owner, other.spec) == (self.owner, self.spec)


def compose_notes(user_notes: str | None, marker: Marker) -> str:
    text = (user_notes or "").rstrip()
    return f"{text}\n\n{marker.render()}" if text else marker.render()


def parse_notes(notes: str | None) -> tuple[str, Marker | None]:
    """(the user's notes, our marker or None)."""
    if not notes:
        return "", None
    match = MARKER.search(notes)
    if match is None:
        return notes, None
    secret = tuple(unquote(p) for p in match["secret"].split(",") if p) if match["secret"] else ()
    return notes[: match.start()], Marker(match["owner"], match["spec"], match["apply"], match["sweep"],
                                          match["point"], secret, int(match["pr"]) if match["pr"] else None,
                                          match["keys"])


def is_owned(notes: str | None, run_id: str | None, owner: str, adopted: Collection[str]) -> bool:
    """Ours: our owner's marker in the notes, or adopted by id (``chariot-apply adopt``)."""
    if run_id in adopted:
        return True
    if not notes or f"[chariot-apply owner={owner} spec=" not in notes:
        return False  # most runs of a large project are others': no need to parse their notes
    _, marker = parse_notes(notes)
    return (marker is not None and marker.owner == owner) or run_id in adopted


def spec_fingerprint(spec: dict[str, Any]) -> str:
    """A short, stable hash of the parts of a spec that define a run (canonical JSON, quantities by value)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


KEY_DIGEST_BYTES = 4  # per path: a server-filled key mistaken for a declared one about once in 10^8 runs


@functools.lru_cache(maxsize=8192)
def key_digest(path: tuple[str, ...]) -> bytes:
    """The digest of one declared path (its keys, JSON-encoded, so that a key with a dot is one key). Runs share
    their config keys: each path is hashed once a process."""
    return hashlib.sha256(json.dumps(list(path), ensure_ascii=False).encode()).digest()[:KEY_DIGEST_BYTES]


def declared_paths(config: Mapping[str, Any], optional_resources: Iterable[str]) -> Iterator[tuple[str, ...]]:
    """Every path a manifest declares that the server could also fill in: config keys at every depth (not into
    lists) and the optional resources it names."""
    def walk(value: Mapping[str, Any], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for key, inner in value.items():
            yield (*prefix, key)
            if isinstance(inner, Mapping):
                yield from walk(inner, (*prefix, key))
    yield from walk(config, ("config",))
    for name in optional_resources:
        yield ("resources", name)


def declared_keys(paths: Iterable[Sequence[str]]) -> str:
    """The marker's ``keys``: the paths' digests, sorted, as one URL-safe base64 word."""
    digests = sorted({key_digest(tuple(p)) for p in paths})
    return base64.urlsafe_b64encode(b"".join(digests)).decode().rstrip("=")


def was_declared(keys: str, path: Sequence[str]) -> bool:
    """Whether ``path`` is among those the marker's ``keys`` recorded."""
    return key_digest(tuple(path)) in _digests(keys)


@functools.lru_cache(maxsize=1024)
def _digests(keys: str) -> frozenset[bytes]:
    """The digests a marker's ``keys`` holds, decoded once for all the paths a comparison asks about."""
    raw = base64.urlsafe_b64decode(keys + "=" * (-len(keys) % 4))
    return frozenset(raw[i:i + KEY_DIGEST_BYTES] for i in range(0, len(raw), KEY_DIGEST_BYTES))
