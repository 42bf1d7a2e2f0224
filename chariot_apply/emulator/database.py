"""The emulator's SQLite file: opened so that several processes can share it (two commands on the embedded
emulator, two served ones), and brought up to date from an older version of its schema."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from chariot_apply.emulator.queries import matches_any
from chariot_apply.emulator.schema import (
    ADDED_RUN_COLUMNS,
    DOCUMENT_SOURCES,
    DOCUMENT_VERSION,
    SCHEMA,
    WAITING_INDEX,
    iso_time,
    run_json,
)

#: How long a write waits for another process's write to the same database file before giving up (then: 503 busy).
BUSY_TIMEOUT_SECONDS = 30.0


def open_database(path: str | Path) -> sqlite3.Connection:
    """Each process waits up to ``BUSY_TIMEOUT_SECONDS`` for another's write; every write transaction is taken at
    its start (``queries.Transaction``)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    db.row_factory = sqlite3.Row
    _journal(db, "wal" if str(path) != ":memory:" else "memory")
    db.execute("PRAGMA synchronous=NORMAL")
    db.create_function("matches_any", 2, matches_any, deterministic=True)
    db.create_function("iso_time", 1, iso_time, deterministic=True)
    db.executescript(SCHEMA)
    return db


def upgrade(db: sqlite3.Connection) -> None:
    """A database from an older version, brought up to this one (inside the caller's write transaction)."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    for column, kind in ADDED_RUN_COLUMNS.items():
        if column not in columns:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    db.execute(WAITING_INDEX)
    _allow_null_metrics(db)
    _keep_documents(db)


def _journal(db: sqlite3.Connection, mode: str) -> None:
    """Set the journal mode. Switching a new file to WAL needs it alone for a moment, and SQLite answers
    "locked" at once instead of waiting when another process holds it: look and try again, within the
    busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != mode:
                db.execute(f"PRAGMA journal_mode={mode.upper()}")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _keep_documents(db: sqlite3.Connection) -> None:
    """Each run's full JSON, kept in ``runs.doc`` by triggers on every write that changes it: a listing then
    only joins stored text instead of composing every document on each read. A database from
    before this version of the document (``user_version``) gets the triggers and documents anew."""
    if db.execute("PRAGMA user_version").fetchone()[0] == DOCUMENT_VERSION:
        return
    for trigger in ("runs_doc_insert", "runs_doc_update"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    refresh = f"UPDATE runs SET doc = {run_json(None)} WHERE rowid = NEW.rowid;"
    db.execute(f"CREATE TRIGGER runs_doc_insert AFTER INSERT ON runs BEGIN {refresh} END")
    db.execute(f"CREATE TRIGGER runs_doc_update AFTER UPDATE OF {', '.join(DOCUMENT_SOURCES)} "
               f"ON runs BEGIN {refresh} END")
    db.execute(f"UPDATE runs SET doc = {run_json(None)}")
    db.execute(f"PRAGMA user_version = {DOCUMENT_VERSION}")


def _allow_null_metrics(db: sqlite3.Connection) -> None:
    """A database from before null metric values had ``value REAL NOT NULL``: rebuild the table without it."""
    columns = {r[1]: r for r in db.execute("PRAGMA table_info(metrics)")}
    if not columns["value"][3]:  # notnull
        return
    db.execute("ALTER TABLE metrics RENAME TO metrics_old")
    db.execute("CREATE TABLE metrics (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, global_step INTEGER NOT NULL, "
               "tag TEXT NOT NULL, value REAL, created_at REAL NOT NULL, job_id TEXT)")
    db.execute("INSERT INTO metrics SELECT id, run_id, global_step, tag, value, created_at, job_id FROM metrics_old")
    db.execute("DROP TABLE metrics_old")
    db.execute("CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, created_at)")
