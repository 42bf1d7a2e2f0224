"""The emulator's service: the training service's semantics over its SQLite state (``schema``), through its
queries (``queries``).

Every public method takes the lock, first lets the simulated lifecycle catch up
with the clock, then answers. Errors are ``EmulatorError`` carrying the HTTP
status and the ``{"error": ...}`` message the app sends back.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from collections.abc import Set as Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import SchemaError

from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.ilike import fold
from chariot_apply.chariot.models import FINISHED_STATUSES
from chariot_apply.chariot.quantity import QuantityError, parse_quantity
from chariot_apply.chariot.semver import is_semver
from chariot_apply.emulator import lifecycle, training
from chariot_apply.emulator.catalog import Catalog, GpuSeed, load_catalog
from chariot_apply.emulator.clock import Clock, SystemClock
from chariot_apply.emulator.errors import EmulatorError as EmulatorError
from chariot_apply.emulator.queries import (
    Transaction,
    Where,
    compile_pattern,
    limit_of,
    matches_any,
    names_clause,
    order_by,
)
from chariot_apply.emulator.schema import (
    ACTIVE,
    ACTIVE_CLAUSE,
    ADDED_RUN_COLUMNS,
    DOCUMENT_SOURCES,
    DOCUMENT_VERSION,
    SCHEMA,
    WAITING_INDEX,
    iso_time,
    run_document,
    run_json,
    timestamp,
)

CHECKPOINT_BUCKET = "chariot-checkpoints"
DEFAULT_USER_ID = "00000000-0000-4000-8000-00000000cafe"
#: How long a write waits for another process's write to the same database file before giving up (then: 503 busy).
BUSY_TIMEOUT_SECONDS = 30.0


@dataclass
class IdFactory:
    """UUIDs that sort in creation order (like UUIDv7), so keyset pagination on ids sees new runs last."""

    last: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def new(self, at: float) -> str:
        value = (int(at * 1000) << 80) | self.rng.getrandbits(64)
        if value <= self.last:
            value = self.last + 1 + self.rng.getrandbits(16)
        self.last = value
        return str(uuid.UUID(int=value & ((1 << 128) - 1)))


def apply_defaults(schema: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The config as the service stores it: every absent property with a schema default filled in."""
    out = copy.deepcopy(config)
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if name not in out and "default" in prop:
            out[name] = copy.deepcopy(prop["default"])
        if isinstance(out.get(name), dict) and prop.get("properties"):
            out[name] = apply_defaults(prop, out[name])
    return out


class EmulatorStore:
    def __init__(self, path: str | Path = ":memory:", *, clock: Clock | None = None,
                 timing: lifecycle.LifecycleTiming | None = None, catalog: Catalog | None = None,
                 seed: bool = True, gpus: Sequence[GpuSeed] | None = None) -> None:
        self.clock = clock or SystemClock()
        self.timing = timing or lifecycle.LifecycleTiming()
        self._lock = threading.RLock()
        self._ids = IdFactory()
        self._validators: dict[str, tuple[Any, dict[str, Any]]] = {}
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Several processes may share the file (two commands on the embedded emulator, two served ones): each
        # waits up to BUSY_TIMEOUT for another's write, and every write transaction is taken at its start.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_SECONDS)
        self._db.row_factory = sqlite3.Row
        self._journal("wal" if str(path) != ":memory:" else "memory")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.create_function("matches_any", 2, matches_any, deterministic=True)
        self._db.create_function("iso_time", 1, iso_time, deterministic=True)
        self._db.executescript(SCHEMA)
        with self._tx():  # one process at a time brings the file up to date and seeds it
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(runs)")}
            for column, kind in ADDED_RUN_COLUMNS.items():  # an older database
                if column not in columns:
                    self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
            self._db.execute(WAITING_INDEX)
            _allow_null_metrics(self._db)
            self._keep_documents()
            if seed and self._db.execute("SELECT COUNT(*) FROM projects").fetchone()[0] == 0:
                self.seed(catalog or load_catalog(), backdate=True)
            elif seed and self._db.execute("SELECT COUNT(*) FROM gpus").fetchone()[0] == 0:
                self.seed(Catalog(gpus=(catalog or load_catalog()).gpus))  # a database from before GPUs were listed
        if gpus is not None:
            self.set_gpus(gpus)

    def _journal(self, mode: str) -> None:
        """Set the journal mode. Switching a new file to WAL needs it alone for a moment, and SQLite answers
        "locked" at once instead of waiting when another process holds it: look and try again, within the
        busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != mode:
                    self._db.execute(f"PRAGMA journal_mode={mode.upper()}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _keep_documents(self) -> None:
        """Each run's full JSON, kept in ``runs.doc`` by triggers on every write that changes it: a listing then
        only joins stored text instead of composing every document on each read. A database from
        before this version of the document (``user_version``) gets the triggers and documents anew."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] == DOCUMENT_VERSION:
            return
        with self._tx():
            for trigger in ("runs_doc_insert", "runs_doc_update"):
                self._db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            refresh = f"UPDATE runs SET doc = {run_json(None)} WHERE rowid = NEW.rowid;"
            self._db.execute(f"CREATE TRIGGER runs_doc_insert AFTER INSERT ON runs BEGIN {refresh} END")
            self._db.execute(f"CREATE TRIGGER runs_doc_update AFTER UPDATE OF {', '.join(DOCUMENT_SOURCES)} "
                             f"ON runs BEGIN {refresh} END")
            self._db.execute(f"UPDATE runs SET doc = {run_json(None)}")
            self._db.execute(f"PRAGMA user_version = {DOCUMENT_VERSION}")

    # ------------------------------------------------------------------ helpers

    def _now(self) -> float:
        """The time, to the microsecond: what is stored is what is served (ISO 8601 to the microsecond), so that
        an object's own ``created_at`` given back as ``created_before``/``created_after`` excludes it, strictly."""
        return round(timestamp(self.clock.now()), 6)

    def _tx(self) -> Transaction:
        return Transaction(self._db)

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------------ catalog

    def seed(self, catalog: Catalog, *, backdate: bool = False) -> dict[str, int]:
        """Add the catalog's projects and blueprints (existing names and versions are kept)."""
        with self._lock, self._tx():
            now = self._now()
            added = {"projects": 0, "blueprints": 0, "gpus": 0, "datasets": 0}
            for dataset in catalog.datasets:
                if not self._query("SELECT 1 FROM datasets WHERE id=?", [dataset.id]):
                    self._db.execute("INSERT INTO datasets VALUES (?, ?)", (dataset.id, dataset.size))
                    added["datasets"] += 1
            for gpu in catalog.gpus:
                if not self._query("SELECT 1 FROM gpus WHERE type=?", [gpu.type]):
                    self._db.execute("INSERT INTO gpus VALUES (?, ?)", (gpu.type, gpu.count))
                    added["gpus"] += 1
            for project in catalog.projects:
                if self._query("SELECT 1 FROM projects WHERE name=?", [project.name]):
                    continue
                self._db.execute("INSERT INTO projects VALUES (?, ?)", (project.id or str(uuid.uuid4()), project.name))
                added["projects"] += 1
            count = len(catalog.blueprints)
            for i, bp in enumerate(catalog.blueprints):
                if self._query("SELECT 1 FROM blueprints WHERE name=? AND version=?", [bp.name, bp.version]):
                    continue
                try:
                    validators.validator_for(bp.config_schema).check_schema(bp.config_schema)
                except SchemaError as exc:
                    raise EmulatorError(400, f"blueprint {bp.name} {bp.version}: invalid config schema: "
                                             f"{exc.message}") from None
                created = now - (count - i) * 60 if backdate else now + i * 1e-3
                bp_id = bp.id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"blueprint:{bp.name}:{bp.version}"))
                self._db.execute(
                    "INSERT INTO blueprints VALUES (?,?,?,?,?,?,?,?)",
                    (bp_id, bp.name, bp.version, created, json.dumps(bp.config_schema), bp.description,
                     json.dumps(bp.task_types), int(bp.deleted)))
                added["blueprints"] += 1
            return added

    def set_gpus(self, gpus: Sequence[GpuSeed]) -> None:
        """The cluster's GPU inventory is exactly ``gpus`` from now on (``emulator serve --gpus``)."""
        with self._lock, self._tx():
            self._db.execute("DELETE FROM gpus")
            self._db.executemany("INSERT INTO gpus VALUES (?, ?)", [(g.type, g.count) for g in gpus])

    def gpus(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._query("SELECT type, count FROM gpus ORDER BY type")]

    def projects(self, name: str | None) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._query("SELECT id, name FROM projects" + (" WHERE name=?" if name else "") +
                               " ORDER BY name", [name] if name else [])
            return [dict(r) for r in rows]

    def _blueprint_out(self, row: sqlite3.Row) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "version": row["version"],
                "created_at": iso_time(row["created_at"]), "config_schema": json.loads(row["config_schema"]),
                "description": row["description"], "task_types": json.loads(row["task_types"])}

    def lookup_blueprint(self, name: str, version_ilike: str | None) -> dict[str, Any]:
        if not name:
            raise EmulatorError(400, "name must be provided")
        with self._lock:
            rows = self._query("SELECT * FROM blueprints WHERE name=? AND deleted=0 ORDER BY created_at DESC, id DESC",
                               [name])
            if version_ilike is not None:
                pattern = compile_pattern(version_ilike)
                rows = [r for r in rows if pattern.fullmatch(fold(r["version"]))]
            if not rows:
                what = f"{name!r}" + (f" with version ILIKE {version_ilike!r}" if version_ilike is not None else "")
                raise EmulatorError(404, f"blueprint {what} does not exist")
            return self._blueprint_out(rows[0])

    def _one(self, table: str, what: str, object_id: str) -> sqlite3.Row:
        """The live (not deleted) row with this id, or the 404 the service answers."""
        rows = self._query(f"SELECT * FROM {table} WHERE id=? AND deleted=0", [object_id])
        if not rows:
            raise EmulatorError(404, f"{what} {object_id} does not exist")
        return rows[0]

    def _blueprint_row(self, blueprint_id: str) -> sqlite3.Row:
        return self._one("blueprints", "blueprint", blueprint_id)

    def get_blueprint(self, blueprint_id: str) -> dict[str, Any]:
        with self._lock:
            return self._blueprint_out(self._blueprint_row(blueprint_id))

    def list_blueprints(self, query: rest.BlueprintListQuery) -> list[dict[str, Any]]:
        with self._lock:
            where = Where("deleted=0").any_of("name", query.names)
            rows = self._query(f"SELECT * FROM blueprints WHERE {where} ORDER BY created_at DESC, id DESC "
                               "LIMIT ? OFFSET ?",
                               [*where.params, limit_of(query.limit, rest.MAX_PAGE_SIZE), query.offset or 0])
            return [self._blueprint_out(r) for r in rows]

    def delete_blueprint(self, blueprint_id: str) -> None:
        with self._lock:
            self._blueprint_row(blueprint_id)
            self._db.execute("UPDATE blueprints SET deleted=1 WHERE id=?", [blueprint_id])

    # ------------------------------------------------------------------ validation

    def _validator(self, blueprint_id: str) -> tuple[Any, dict[str, Any]]:
        row = self._blueprint_row(blueprint_id)
        if blueprint_id not in self._validators:
            schema = json.loads(row["config_schema"])
            self._validators[blueprint_id] = (validators.validator_for(schema)(schema), schema)
        return self._validators[blueprint_id]

    def validate(self, blueprint_id: str, config: dict[str, Any]) -> list[rest.ErrorDetail]:
        with self._lock:
            validator, _ = self._validator(blueprint_id)
            return _config_problems(validator, config)

    # ------------------------------------------------------------------ runs

    def create_run(self, body: rest.CreateRunBody, user_id: str) -> str:
        with self._lock:
            validator, schema = self._validator(body.blueprint_id)
            if not self._query("SELECT 1 FROM projects WHERE id=?", [body.project_id]):
                raise EmulatorError(404, f"project {body.project_id} does not exist")
            problems = _config_problems(validator, body.config, "$.config") + _resource_problems(body)
            if problems:
                raise EmulatorError(422, "invalid run", problems)
            config = apply_defaults(schema, body.config)
            with self._tx():
                # The time is taken once the write lock is held: a run is never older than one committed
                # before it by another process (the oldest run at an address is the one every plan keeps).
                now = self._now()
                run_id = self._ids.new(now)
                clock = lifecycle.started(now, self._recipe(body.task_type, config), self.timing, seed=run_id,
                                          resume_step=self._resume_step(body, config))
                self._db.execute(
                    "INSERT INTO runs (id, name, name_folded, version, created_at, blueprint_id, project_id, user_id, "
                    "task_type, "
                    "resources, config, notes, status, status_updated_at, progress_updated_at, phase, global_step, "
                    "total_steps, next_at, fail_step, restart_step, stall_step) "
                    f"VALUES ({','.join('?' * 22)})",
                    (run_id, body.name, fold(body.name), body.version, now, body.blueprint_id, body.project_id, user_id,
                     body.task_type, body.resources.model_dump_json(exclude_none=True), json.dumps(config),
                     body.notes, clock.status, now, None, clock.phase, clock.global_step, clock.total_steps,
                     clock.next_at, clock.fail_step, clock.restart_step, clock.stall_step))
                self._record_events(run_id, [lifecycle.Effect(at=now, status="run_created")])
            return run_id

    def list_runs(self, query: rest.RunQuery) -> list[dict[str, Any]]:
        return list(json.loads(self.list_runs_json(query)))

    def list_runs_json(self, query: rest.RunQuery) -> str:
        """The matching runs as the JSON array the service sends, written by SQLite: the stored documents
        (``_keep_documents``), or, for a ``select``, composed in SQL: never through Python dicts and
        ``json.dumps``, an order of magnitude slower."""
        with self._lock:
            self.advance()
            # A project holds its whole history: where names or statuses narrow the listing, their indexes must
            # serve it, not the project's (the unary + keeps SQLite from choosing that one). The active runs (what
            # every plan asks for) have an index of their own, in id order.
            active = query.statuses is not None and frozenset(query.statuses) == ACTIVE
            narrow = query.name_ilikes is not None or query.ids is not None or (query.statuses is not None
                                                                                and not active)
            where = (Where("deleted=0").any_of("blueprint_id", query.blueprint_ids).any_of("id", query.ids)
                     .any_of("+project_id" if narrow else "project_id", query.project_ids)
                     .any_of("task_type", query.task_types).any_of("version", query.versions)
                     .any_of("user_id", query.user_ids).created(query.created_after, query.created_before))
            if active:
                where.add(ACTIVE_CLAUSE)  # literal, so that SQLite sees the partial index applies
            else:
                where.any_of("status", query.statuses)
            if query.id_after is not None:
                where.add("id > ?", query.id_after)
            if query.name_ilikes is not None:
                names_clause(where, query.name_ilikes)
            order = order_by(query.sort or [rest.RUNS_DEFAULT_SORT])
            selected = None if query.select is None or "*" in query.select else frozenset(query.select)
            rows = self._db.execute(f"SELECT {run_document(selected)} FROM runs WHERE {where} ORDER BY {order} "
                                    "LIMIT ? OFFSET ?",
                                    [*where.params, limit_of(query.limit, rest.RUNS_DEFAULT_LIMIT), query.offset or 0])
            return "[" + ",".join(row[0] for row in rows) + "]"

    def _run_row(self, run_id: str) -> sqlite3.Row:
        return self._one("runs", "run", run_id)

    def get_run(self, run_id: str, fields: Sequence[str] | None) -> dict[str, Any]:
        return dict(json.loads(self.get_run_json(run_id, fields)))

    def get_run_json(self, run_id: str, fields: Sequence[str] | None) -> str:
        with self._lock:
            self.advance()
            selected = None if fields is None else frozenset({"id", *fields})
            row = self._db.execute(f"SELECT {run_document(selected)} FROM runs WHERE id=? AND deleted=0",
                                   [run_id]).fetchone()
            if row is None:
                raise EmulatorError(404, f"run {run_id} does not exist")
            return str(row[0])

    def stop_run(self, run_id: str, grace: float) -> None:
        with self._lock:
            self.advance()
            row = self._run_row(run_id)
            if row["status"] in FINISHED_STATUSES:
                raise EmulatorError(409, f"run {run_id} has already finished ({row['status']}); nothing to stop")
            if row["stop_at"] is not None:
                return  # already stopping: the first request's grace period stands
            now = self._now()
            state, effect = lifecycle.request_stop(_clock_of(row), now, grace, self.timing)
            with self._tx():
                self._save_clock(run_id, state, now)
                self._record_events(run_id, [effect])

    def delete_run(self, run_id: str) -> None:
        """Any run can be deleted; an active one is terminated first. Its checkpoints go with it."""
        with self._lock:
            self.advance()
            row = self._run_row(run_id)
            with self._tx():
                if row["status"] not in FINISHED_STATUSES:
                    self._record_events(run_id, [lifecycle.Effect(at=self._now(), status="job_terminated",
                                                                  details={"reason": "run deleted"})])
                self._db.execute("UPDATE runs SET deleted=1, next_at=NULL, waiting=NULL WHERE id=?", [run_id])
                self._db.execute("UPDATE checkpoints SET deleted=1 WHERE run_id=?", [run_id])
                self._advance_locked(self._now())  # its GPUs are free now: a waiting run starts now

    # ------------------------------------------------------------------ lifecycle

    def _recipe(self, task_type: str, config: dict[str, Any]) -> training.Recipe:
        return training.recipe(task_type, config, self._dataset_sizes())

    def _dataset_sizes(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._query("SELECT id, size FROM datasets")}

    def advance(self) -> int:
        """Let every run catch up with the clock; return how many transitions happened.

        Transitions are taken in time order across runs, so that a run waiting for GPUs starts the moment another
        one frees them, however far the clock has moved since the last request."""
        with self._lock:
            now = self._now()
            if not self._query("SELECT 1 FROM runs WHERE next_at IS NOT NULL AND next_at <= ? AND deleted=0 LIMIT 1",
                               [now]) and not self._wakeable():
                return 0
            with self._tx():  # read again under the write lock: another process may have advanced them meanwhile
                return self._advance_locked(self._now())

    def _wakeable(self) -> bool:
        """A run waits for GPUs, and some are free now (a run was stopped or deleted since)."""
        waiting = self._query("SELECT resources FROM runs WHERE waiting IS NOT NULL AND deleted=0 "
                              "ORDER BY created_at LIMIT 1")
        return bool(waiting) and Cluster.of(self).fits(_gpu_of(waiting[0]["resources"]))

    def _advance_locked(self, now: float) -> int:
        due = {r["id"]: r for r in self._query(
            "SELECT * FROM runs WHERE next_at IS NOT NULL AND next_at <= ? AND deleted=0", [now])}
        waiting = {r["id"]: r for r in self._query(
            "SELECT * FROM runs WHERE waiting IS NOT NULL AND deleted=0 ORDER BY created_at")}
        rows = due | waiting
        clocks = {run_id: _clock_of(row) for run_id, row in rows.items()}
        effects: dict[str, list[lifecycle.Effect]] = {run_id: [] for run_id in rows}
        recipes: dict[str, training.Recipe] = {}
        gpus: dict[str, tuple[str, int] | None] = {}
        admissions: dict[str, lifecycle.Admission] = {}
        sizes = self._dataset_sizes()
        cluster: Cluster | None = None
        queue = [(clock.next_at, run_id) for run_id, clock in clocks.items() if clock.next_at is not None]
        if waiting:
            cluster = Cluster.of(self)
            queue += self._wake(waiting, clocks, cluster, now)
        heapq.heapify(queue)
        while queue:
            at, run_id = heapq.heappop(queue)
            clock, row = clocks[run_id], rows[run_id]
            if clock.next_at != at or at > now or clock.finished:
                continue
            if run_id not in recipes:  # worked out once a run, not at each of its steps
                recipes[run_id] = training.recipe(row["task_type"], json.loads(row["config"]), sizes)
                gpus[run_id] = _gpu_of(row["resources"])
                if gpus[run_id] is not None and cluster is None:
                    cluster = Cluster.of(self)
                admissions[run_id] = self._admission(row, recipes[run_id], gpus[run_id], cluster)
            recipe, gpu = recipes[run_id], gpus[run_id]
            held = clock.phase == lifecycle.RUNNING and not clock.finished and clock.waiting is None
            # A run without GPUs touches no other run: it catches up in one go. One with GPUs goes a moment at a
            # time, so that what it frees is taken in time order.
            clock, happened = lifecycle.advance(clock, now if gpu is None else at, self.timing, recipe, run_id,
                                                admissions[run_id])
            clocks[run_id] = clock
            effects[run_id] += happened
            if clock.next_at is not None:
                heapq.heappush(queue, (clock.next_at, run_id))
            if held and clock.finished and gpu is not None and cluster is not None:
                cluster.release(gpu)
                for item in self._wake(waiting, clocks, cluster, at):
                    heapq.heappush(queue, item)
        count = 0
        for run_id, happened in effects.items():
            if happened or clocks[run_id] != _clock_of(rows[run_id]):
                self._apply(rows[run_id], clocks[run_id], happened, recipes.get(run_id))
                count += len(happened)
        return count

    def _wake(self, waiting: dict[str, sqlite3.Row], clocks: dict[str, lifecycle.RunClock], cluster: Cluster,
              at: float) -> list[tuple[float, str]]:
        """Runs that wait for GPUs, oldest first, that fit now: due at ``at``. The oldest that does not fit
        keeps the others waiting behind it (first come, first served)."""
        out = []
        for run_id, row in waiting.items():
            clock = clocks[run_id]
            if clock.waiting is None or clock.finished or clock.stop_at is not None:
                continue
            if not cluster.fits(_gpu_of(row["resources"])):
                break
            clocks[run_id] = replace(clock, waiting=None, next_at=at)
            out.append((at, run_id))
        return out

    def _admission(self, row: sqlite3.Row, recipe: training.Recipe, gpu: tuple[str, int] | None,
                   cluster: Cluster | None) -> lifecycle.Admission:
        resources = json.loads(row["resources"])

        def take_gpus() -> str | None:
            if gpu is None or cluster is None:
                return None
            return cluster.take(gpu)

        def shortage() -> str | None:
            return None if gpu is None or cluster is None or cluster.fits(gpu) else cluster.shortage(gpu)

        def create_problem() -> str | None:
            return None if gpu is None or cluster is None else cluster.never_fits(gpu)

        def memory_problem() -> str | None:
            have = training.memory_available_gib(resources.get("memory"), gpu)
            if have is None or recipe.memory_needed_gib <= have:
                return None
            where = f"{gpu[1]} x {gpu[0]}" if gpu else f"resources.memory {resources.get('memory')}"
            return (f"out of memory: {recipe.model} with batch size {recipe.batch_size} needs about "
                    f"{recipe.memory_needed_gib:g} GiB; the run has {have:g} GiB ({where}). Use a smaller "
                    "batch_size or ask for more memory")

        return lifecycle.Admission(create_problem=create_problem, shortage=shortage, take_gpus=take_gpus,
                                   start_problem=lambda: self._start_problem(recipe.start_model),
                                   memory_problem=memory_problem)

    def _resume_step(self, body: rest.CreateRunBody, config: dict[str, Any]) -> int:
        """A run whose start_model is a complete checkpoint of an earlier run at its own address resumes from that
        checkpoint's step (a blueprint loads its most recent checkpoint to resume); any other start_model
        (fine-tuning from another run) trains from step 0."""
        start = config.get("start_model")
        if not isinstance(start, dict) or "checkpoint_id" not in start:
            return 0
        rows = self._query("SELECT c.global_step FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.id=? "
                           "AND c.deleted=0 AND c.status='complete' AND r.project_id=? AND r.name=? AND r.version=?",
                           [str(start["checkpoint_id"]), body.project_id, body.name, body.version])
        return int(rows[0]["global_step"] or 0) if rows else 0

    def _start_problem(self, start: dict[str, Any] | None) -> str | None:
        """Why a run cannot load its start_model: the checkpoint or model it names does not exist (or is not
        complete)."""
        if not start:
            return None
        if "checkpoint_id" in start:
            rows = self._query("SELECT status FROM checkpoints WHERE id=? AND deleted=0", [str(start["checkpoint_id"])])
            if not rows:
                return f"start_model: checkpoint {start['checkpoint_id']} does not exist"
            if rows[0]["status"] != "complete":
                return f"start_model: checkpoint {start['checkpoint_id']} is not complete"
        if "model_id" in start and not self._query("SELECT 1 FROM models WHERE id=?", [str(start["model_id"])]):
            return f"start_model: model {start['model_id']} does not exist"
        return None

    def _save_clock(self, run_id: str, state: lifecycle.RunClock, status_at: float,
                    recipe: training.Recipe | None = None) -> None:
        self._db.execute(
            "UPDATE runs SET status=?, status_updated_at=?, phase=?, global_step=?, next_at=?, stop_at=?, grace=?, "
            "restart_step=?, eval_value=?, eval_total=?, waiting=? WHERE id=?",
            (state.status, status_at, state.phase, state.global_step, state.next_at, state.stop_at, state.grace,
             state.restart_step, state.evaluating, None if state.evaluating is None or recipe is None
             else recipe.eval_batches, state.waiting, run_id))

    def _apply(self, row: sqlite3.Row, state: lifecycle.RunClock, effects: list[lifecycle.Effect],
               recipe: training.Recipe | None) -> None:
        run_id = row["id"]
        status_at = row["status_updated_at"]
        metrics, last_step_at = [], None
        for effect in effects:
            at = round(effect.at, 6)  # stored as served: to the microsecond (keyset filters are strict)
            if effect.progress or effect.global_step is not None:
                last_step_at = at
            if effect.global_step is not None:
                metrics += [(self._ids.new(at), run_id, effect.global_step, tag, value, at, run_id)
                            for tag, value in effect.metrics.items()]
                if effect.complete_checkpoints:  # the next step has uploaded them
                    self._db.execute("UPDATE checkpoints SET status='complete', status_updated_at=? "
                                     "WHERE run_id=? AND status='incomplete'", [at, run_id])
                if effect.checkpoint:  # the last one is complete at once: the run is over
                    self._db.execute(
                        "INSERT INTO checkpoints (id, run_id, project_id, global_step, created_at, status, "
                        "status_updated_at) VALUES (?,?,?,?,?,?,?)",
                        (self._ids.new(at), run_id, row["project_id"], effect.global_step, at,
                         "complete" if effect.status else "incomplete", at))
            if effect.status:
                status_at = at
        self._db.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?)", metrics)
        self._record_events(run_id, [e for e in effects if e.status])
        self._save_clock(run_id, state, status_at, recipe)
        if last_step_at is not None:
            self._db.execute("UPDATE runs SET progress_updated_at=? WHERE id=?", [last_step_at, run_id])

    def _record_events(self, run_id: str, effects: list[lifecycle.Effect]) -> None:
        if not effects:
            return
        start = self._db.execute("SELECT events FROM runs WHERE id=?", [run_id]).fetchone()[0]
        rows = [(self._ids.new(e.at), run_id, start + i + 1, round(e.at, 6), e.status, json.dumps(e.details))
                for i, e in enumerate(effects)]
        self._db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", rows)
        self._db.execute("UPDATE runs SET events=? WHERE id=?", [start + len(rows), run_id])

    # ------------------------------------------------------------------ events, metrics

    def events(self, run_id: str, query: rest.EventQuery) -> list[dict[str, Any]]:
        with self._lock:
            self.advance()
            self._run_row(run_id)
            sort: Sequence[str] = query.sort or [rest.EVENTS_DEFAULT_SORT]
            order = ", ".join("sequence " + ("DESC" if s.endswith(":desc") else "ASC") for s in sort)
            rows = self._query(f"SELECT * FROM events WHERE run_id=? ORDER BY {order} LIMIT ? OFFSET ?",
                               [run_id, limit_of(query.limit, rest.EVENTS_DEFAULT_LIMIT), query.offset or 0])
            return [{"id": r["id"], "sequence": r["sequence"], "run_id": r["run_id"],
                     "created_at": iso_time(r["created_at"]), "status": r["status"],
                     "details": json.loads(r["details"])} for r in rows]

    def metrics(self, run_id: str, query: rest.MetricQuery | None) -> list[dict[str, Any]]:
        with self._lock:
            self.advance()
            self._run_row(run_id)
            where = Where().add("run_id=?", run_id)
            limit = -1
            if query is not None:
                where.any_of("global_step", query.global_steps).any_of("tag", query.tags)
                where.created(None, query.created_before)
                limit = limit_of(query.limit, rest.METRICS_DEFAULT_LIMIT, maximum=None)
            rows = self._query(f"SELECT * FROM metrics WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                               [*where.params, limit])
            return [{"id": r["id"], "created_at": iso_time(r["created_at"]), "run_id": r["run_id"],
                     "global_step": r["global_step"], "tag": r["tag"], "value": r["value"], "job_id": r["job_id"]}
                    for r in rows]

    # ------------------------------------------------------------------ checkpoints

    def global_steps(self, run_id: str) -> list[int]:
        with self._lock:
            self.advance()
            self._run_row(run_id)
            rows = self._query("SELECT DISTINCT global_step FROM checkpoints WHERE run_id=? AND deleted=0 "
                               "ORDER BY global_step", [run_id])
            return [r[0] for r in rows]

    def checkpoints(self, query: rest.CheckpointQuery) -> list[dict[str, Any]]:
        with self._lock:
            self.advance()
            where = (Where("deleted=0").any_of("id", query.ids).any_of("run_id", query.run_ids)
                     .any_of("project_id", query.project_ids).any_of("global_step", query.global_steps)
                     .any_of("status", query.statuses).created(query.created_after, query.created_before))
            order = order_by(query.sort or [rest.CHECKPOINTS_DEFAULT_SORT])
            rows = self._query(f"SELECT * FROM checkpoints WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                               [*where.params, limit_of(query.limit, rest.CHECKPOINTS_DEFAULT_LIMIT),
                                query.offset or 0])
            selected: set[str] | None = None if query.select is None else set(query.select)
            return [_checkpoint_out(r, selected) for r in rows]

    def delete_checkpoints(self, query: rest.CheckpointDeleteQuery) -> int:
        if not query.ids and not query.run_ids:
            raise EmulatorError(400, "either ids or run_ids must be specified")
        with self._lock:
            where = Where("deleted=0").any_of("id", query.ids).any_of("run_id", query.run_ids)
            return self._db.execute(f"UPDATE checkpoints SET deleted=1 WHERE {where}", where.params).rowcount

    def _checkpoint_row(self, checkpoint_id: str) -> sqlite3.Row:
        self.advance()
        return self._one("checkpoints", "checkpoint", checkpoint_id)

    def checkpoint_files(self, checkpoint_id: str) -> dict[str, bytes]:
        with self._lock:
            row = self._checkpoint_row(checkpoint_id)
            if row["status"] != "complete":
                raise EmulatorError(409, f"checkpoint {checkpoint_id} is still being written")
            run = self._query("SELECT task_type, config FROM runs WHERE id=?", [row["run_id"]])[0]
            recipe = self._recipe(run["task_type"], json.loads(run["config"]))
            seed = hashlib.sha256(checkpoint_id.encode()).digest()
            weights = (seed * 128)[:4096]
            config = {"artifact_type": "pytorch", "task_type": run["task_type"], "model": recipe.model,
                      "class_labels": dict(enumerate(recipe.labels)) if recipe.family.name == "detection" else None,
                      "inference_engine": "ultralytics" if recipe.family.name == "detection" else "torchserve",
                      "global_step": row["global_step"], "weights_sha256": hashlib.sha256(weights).hexdigest()}
            return {"model.pt": weights, "chariot_model_config.json": json.dumps(config, indent=2).encode()}

    def models(self, query: rest.ModelQuery) -> list[dict[str, Any]]:
        with self._lock:
            where = (Where("1").any_of("project_id", query.project_ids).any_of("name", query.names)
                     .any_of("version", query.versions))
            rows = self._query(f"SELECT * FROM models WHERE {where} ORDER BY created_at, id", where.params)
            return [{"id": r["id"], "name": r["name"], "version": r["version"], "summary": r["summary"],
                     "project_id": r["project_id"], "checkpoint_id": r["checkpoint_id"],
                     "created_at": iso_time(r["created_at"])} for r in rows]

    def create_model(self, checkpoint_id: str, body: rest.CreateModelBody) -> str:
        if not is_semver(body.version):
            raise EmulatorError(422, "invalid model", [rest.ErrorDetail(
                path="$.version", message=f"{body.version!r} is not a SemVer version")])
        with self._lock:
            row = self._checkpoint_row(checkpoint_id)
            if row["status"] != "complete":
                raise EmulatorError(409, f"checkpoint {checkpoint_id} is not complete")
            project_id = body.project_id or row["project_id"]
            if not self._query("SELECT 1 FROM projects WHERE id=?", [project_id]):
                raise EmulatorError(404, f"project {project_id} does not exist")
            now = self._now()
            model_id = self._ids.new(now)
            self._db.execute("INSERT INTO models VALUES (?,?,?,?,?,?,?)",
                             (model_id, checkpoint_id, body.name, body.version, body.summary, project_id, now))
            return model_id


def _clock_of(row: sqlite3.Row) -> lifecycle.RunClock:
    return lifecycle.RunClock(status=row["status"], phase=row["phase"], global_step=row["global_step"],
                              total_steps=row["total_steps"], next_at=row["next_at"], stop_at=row["stop_at"],
                              grace=row["grace"], fail_step=row["fail_step"], restart_step=row["restart_step"],
                              stall_step=row["stall_step"], evaluating=row["eval_value"], waiting=row["waiting"])


def _gpu_of(resources: str) -> tuple[str, int] | None:
    """(type, count) of the GPUs a run's stored resources ask for, if any."""
    gpu = json.loads(resources).get("gpu")
    return (str(gpu.get("type") or ""), int(gpu.get("count") or 0)) if isinstance(gpu, dict) else None


@dataclass
class Cluster:
    """The GPUs of the emulated cluster: how many of each type, and how many the running runs hold."""

    total: dict[str, int]
    used: dict[str, int]

    @classmethod
    def of(cls, store: EmulatorStore) -> Cluster:
        total = {r["type"].upper(): r["count"] for r in store._query("SELECT type, count FROM gpus")}
        used: dict[str, int] = {}
        for row in store._query(f"SELECT resources FROM runs WHERE phase={lifecycle.RUNNING} AND deleted=0 "
                                f"AND waiting IS NULL AND {ACTIVE_CLAUSE} AND resources LIKE '%\"gpu\"%'"):
            gpu = _gpu_of(row["resources"])
            if gpu is not None:
                used[gpu[0].upper()] = used.get(gpu[0].upper(), 0) + gpu[1]
        return cls(total, used)

    def free(self, kind: str) -> int:
        return self.total.get(kind.upper(), 0) - self.used.get(kind.upper(), 0)

    def fits(self, gpu: tuple[str, int] | None) -> bool:
        return gpu is None or gpu[1] <= self.free(gpu[0])

    def never_fits(self, gpu: tuple[str, int]) -> str | None:
        kind, count = gpu
        have = self.total.get(kind.upper())
        if have is None:
            offered = ", ".join(f"{n} x {k}" for k, n in sorted(self.total.items())) or "none"
            return f"the cluster has no {kind} GPUs (it has: {offered})"
        if count > have:
            return f"the run asks for {count} x {kind} GPUs; the cluster has {have}"
        return None

    def take(self, gpu: tuple[str, int]) -> str | None:
        """Take the GPUs for a run that starts, or say why it must wait."""
        if not self.fits(gpu):
            return self.shortage(gpu)
        kind, count = gpu
        self.used[kind.upper()] = self.used.get(kind.upper(), 0) + count
        return None

    def shortage(self, gpu: tuple[str, int]) -> str:
        kind, count = gpu
        return (f"waiting for {count} x {kind} GPUs: {max(0, self.free(kind))} of {self.total.get(kind.upper(), 0)} "
                "free")

    def release(self, gpu: tuple[str, int]) -> None:
        self.used[gpu[0].upper()] = max(0, self.used.get(gpu[0].upper(), 0) - gpu[1])


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


def _checkpoint_out(row: sqlite3.Row, selected: Set[str] | None) -> dict[str, Any]:
    full = {"id": row["id"], "run_id": row["run_id"], "global_step": row["global_step"],
            "project_id": row["project_id"], "created_at": iso_time(row["created_at"]), "status": row["status"],
            "status_updated_at": iso_time(row["status_updated_at"]), "bucket_name": CHECKPOINT_BUCKET,
            "key_prefix": f"{row['project_id']}/{row['run_id']}/{row['global_step']}"}
    if selected is None:
        return full
    return {k: (v if k in selected else None) for k, v in full.items()}


def _config_problems(validator: Any, config: dict[str, Any], root: str = "$") -> list[rest.ErrorDetail]:
    """Every schema violation, sorted by location, with JSON paths rooted at ``root``."""
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [rest.ErrorDetail(path=root + e.json_path[1:], message=e.message) for e in errors]


def _resource_problems(body: rest.CreateRunBody) -> list[rest.ErrorDetail]:
    problems = []
    resources = body.resources
    for name, value in (("cpu", resources.cpu), ("memory", resources.memory),
                         ("ephemeral_storage", resources.ephemeral_storage)):
        if value is None:
            continue
        try:
            quantity = parse_quantity(value)
        except QuantityError as exc:
            problems.append(rest.ErrorDetail(path=f"$.resources.{name}", message=str(exc)))
            continue
        if quantity.value <= 0:
            problems.append(rest.ErrorDetail(path=f"$.resources.{name}", message=f"{value!r} must be positive"))
    if resources.gpu is not None and resources.gpu.count < 1:
        problems.append(rest.ErrorDetail(path="$.resources.gpu.count", message="must be at least 1"))
    return problems
