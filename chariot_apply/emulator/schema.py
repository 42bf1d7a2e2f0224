"""The emulator's SQLite schema: tables, indexes, the run documents kept beside each row, and the SQL that composes
them in the shape of ``rest.Run``."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from chariot_apply.chariot.models import ACTIVE_STATUSES, FINISHED_STATUSES

ACTIVE = frozenset(ACTIVE_STATUSES)
#: ``status`` is one of the active ones, as SQL text: a partial index applies only to a query whose WHERE implies its
#: own, which SQLite can prove of literals alone.
ACTIVE_CLAUSE = f"status NOT IN ({', '.join(repr(s) for s in sorted(FINISHED_STATUSES))})"


SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS blueprints (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, created_at REAL NOT NULL,
  config_schema TEXT NOT NULL, description TEXT, task_types TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS blueprints_name ON blueprints(name, created_at);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL, version TEXT NOT NULL,
  created_at REAL NOT NULL, blueprint_id TEXT NOT NULL, project_id TEXT NOT NULL, user_id TEXT NOT NULL,
  task_type TEXT NOT NULL,
  resources TEXT NOT NULL, config TEXT NOT NULL, notes TEXT,
  status TEXT NOT NULL, status_updated_at REAL NOT NULL, progress_updated_at REAL,
  phase INTEGER NOT NULL, global_step INTEGER NOT NULL, total_steps INTEGER NOT NULL,
  next_at REAL, stop_at REAL, grace REAL, events INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
  fail_step INTEGER, restart_step INTEGER, eval_value INTEGER, eval_total INTEGER, waiting TEXT, stall_step INTEGER);
DROP INDEX IF EXISTS runs_project;  -- superseded: pages skip by the index below alone
CREATE INDEX IF NOT EXISTS runs_project_live ON runs(project_id, deleted, id);
CREATE INDEX IF NOT EXISTS runs_name ON runs(name_folded);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_active ON runs(project_id, deleted, id) WHERE {active};  -- what plans list
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
CREATE INDEX IF NOT EXISTS runs_due ON runs(next_at) WHERE next_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS datasets (id TEXT PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, sequence INTEGER NOT NULL, created_at REAL NOT NULL,
  status TEXT NOT NULL, details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, sequence);
CREATE TABLE IF NOT EXISTS metrics (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, global_step INTEGER NOT NULL, tag TEXT NOT NULL,
  value REAL, created_at REAL NOT NULL, job_id TEXT);  -- a null value: not a number, as blueprints send it
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, created_at);
CREATE TABLE IF NOT EXISTS checkpoints (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, project_id TEXT NOT NULL, global_step INTEGER NOT NULL,
  created_at REAL NOT NULL, status TEXT NOT NULL, status_updated_at REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS checkpoints_run ON checkpoints(run_id);
CREATE TABLE IF NOT EXISTS gpus (type TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS models (
  id TEXT PRIMARY KEY, checkpoint_id TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
  summary TEXT NOT NULL, project_id TEXT NOT NULL, created_at REAL NOT NULL);
""".replace("{active}", ACTIVE_CLAUSE)


def timestamp(dt: datetime) -> float:
    """Seconds since the epoch, for any datetime (a naive one is UTC): year 1 as well as 9999."""
    return ((dt if dt.tzinfo else dt.replace(tzinfo=UTC)) - EPOCH).total_seconds()


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_time(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


_TRAINING = "json_object('operation', 'Training', 'value', global_step, 'final_value', total_steps, 'units', 'steps')"
#: New columns, for a database from before them: name -> type.
ADDED_RUN_COLUMNS = {"fail_step": "INTEGER", "doc": "TEXT", "restart_step": "INTEGER", "eval_value": "INTEGER",
                     "eval_total": "INTEGER", "waiting": "TEXT", "stall_step": "INTEGER"}
#: Runs that wait for GPUs, oldest first.
WAITING_INDEX = "CREATE INDEX IF NOT EXISTS runs_waiting ON runs(created_at) WHERE waiting IS NOT NULL"

#: Each field of a run as the service sends it, as SQL over the ``runs`` row (``iso_time`` is ``iso_time``).
RUN_COLUMNS = {
    "id": "id", "name": "name", "version": "version", "created_at": "iso_time(created_at)",
    "blueprint_id": "blueprint_id", "project_id": "project_id", "user_id": "user_id",
    "progress": "CASE WHEN progress_updated_at IS NULL THEN json_array() "
                "WHEN eval_value IS NULL THEN json_array(" + _TRAINING + ") "
                "ELSE json_array(" + _TRAINING + ", json_object('operation', 'Evaluating', 'value', eval_value, "
                "'final_value', eval_total, 'units', 'batches')) END",
    "progress_updated_at": "iso_time(progress_updated_at)", "status": "status",
    "status_updated_at": "iso_time(status_updated_at)", "task_type": "task_type",
    "resources": "json(resources)", "config": "json(config)", "notes": "notes",
}


#: The version of ``RUN_COLUMNS`` that stored documents were written with: change it with them.
DOCUMENT_VERSION = 2
#: The columns a run's document is made of: a write to any of them rewrites the document.
DOCUMENT_SOURCES = ("id", "name", "version", "created_at", "blueprint_id", "project_id", "user_id", "global_step",
                     "total_steps", "eval_value", "eval_total", "progress_updated_at", "status", "status_updated_at",
                     "task_type", "resources", "config", "notes")


def run_document(selected: frozenset[str] | None) -> str:
    """What to select for a run's JSON: the stored document, or one composed with only ``selected`` fields."""
    return "doc" if selected is None else run_json(selected)


@lru_cache(maxsize=64)
def run_json(selected: frozenset[str] | None) -> str:
    """The SQL expression of one run as a JSON object; fields not ``selected`` are null, as the SDK says."""
    pairs = (f"'{name}', {sql if selected is None or name in selected else 'NULL'}"
             for name, sql in RUN_COLUMNS.items())
    return f"json_object({', '.join(pairs)})"
