"""Model creates whose outcome is unknown are remembered between commands, and forgotten after a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from chariot_apply.plan.live import PENDING_FOR
from chariot_apply.workspace.pending_models import add_pending, read_pending

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
KEY = ("project-1", "detector", "1.3.0")


def test_a_pending_create_is_remembered_then_forgotten(tmp_path: Path) -> None:
    path = tmp_path / ".chariot-apply" / "pending-models.json"
    add_pending(path, [KEY], T0)
    assert read_pending(path, T0 + timedelta(minutes=1)) == {KEY: T0}
    assert read_pending(path, T0 + PENDING_FOR) == {}
    add_pending(path, [("p", "other", "1.0.0")], T0 + PENDING_FOR)  # the expired one is dropped on the way
    assert set(read_pending(path, T0 + PENDING_FOR)) == {("p", "other", "1.0.0")}


def test_an_unreadable_file_delays_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pending-models.json"
    for garbage in ("not json", "{}", '[{"name": 1}]', '[{"project_id": "p", "name": "n", "version": "v", '
                                                       '"sent_at": "yesterday"}]'):
        path.write_text(garbage)
        assert read_pending(path, T0) == {}
