"""Model creates whose outcome is unknown, remembered between commands (``.chariot-apply/pending-models.json``
beside the project file): a create that timed out may still commit minutes later, and a second create sent
meanwhile would make a second model, which cannot be deleted through the SDK. While one is pending, plans wait
for it instead of promoting again; after ``PENDING_FOR`` it is forgotten (the server dropped it)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from chariot_apply.plan.live import ModelKey, still_pending
from chariot_apply.runtime.files import write_file

PENDING_FILE = Path(".chariot-apply") / "pending-models.json"


def read_pending(path: Path, now: datetime | None = None) -> dict[ModelKey, datetime]:
    """The model creates still pending at ``now`` (an unreadable file is an empty one: it only ever delays)."""
    return still_pending(read_pending_entries(path), now or datetime.now(UTC))


def read_pending_entries(path: Path) -> dict[ModelKey, datetime]:
    """Every model create recorded, with when it was sent."""
    try:
        entries = json.loads(path.read_text("utf-8")) if path.is_file() else []
    except (OSError, ValueError):
        return {}
    pending: dict[ModelKey, datetime] = {}
    for entry in entries if isinstance(entries, list) else []:
        try:
            key = (str(entry["project_id"]), str(entry["name"]), str(entry["version"]))
            sent = datetime.fromisoformat(str(entry["sent_at"]))
        except (KeyError, TypeError, ValueError):
            continue
        if sent.tzinfo is not None:
            pending[key] = sent
    return pending


def add_pending(path: Path, keys: Iterable[ModelKey], now: datetime | None = None) -> None:
    """Remember ``keys`` as sent at ``now``, beside those still pending."""
    now = now or datetime.now(UTC)
    pending = read_pending(path, now) | {key: now for key in keys}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, json.dumps([{"project_id": p, "name": n, "version": v, "sent_at": at.isoformat()}
                                 for (p, n, v), at in sorted(pending.items())], indent=1) + "\n")
