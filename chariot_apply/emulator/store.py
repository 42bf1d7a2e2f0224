"""The emulator's service: the training service's semantics over its SQLite state (``schema``), through its
queries (``queries``).

Every public method takes the lock, first lets the simulated lifecycle catch up
with the clock, then answers. Errors are ``EmulatorError`` carrying the HTTP
status and the ``{"error": ...}`` message the app sends back.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from collections.abc import Set as Set
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
from chariot_apply.emulator.database import open_database, upgrade
from chariot_apply.emulator.errors import EmulatorError as EmulatorError
from chariot_apply.emulator.queries import (
    Transaction,
    Where,
    compile_pattern,
    limit_of,
    names_clause,
    order_by,
)
from chariot_apply.emulator.scheduler import IdFactory, Scheduler, clock_of
from chariot_apply.emulator.schema import (
    ACTIVE,
    ACTIVE_CLAUSE,
    iso_time,
    run_document,
    timestamp,
)

CHECKPOINT_BUCKET = "chariot-checkpoints"
DEFAULT_USER_ID = "00000000-0000-4000-8000-00000000cafe"


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
        self._timing = timing or lifecycle.LifecycleTiming()
        self._lock = threading.RLock()
        self._ids = IdFactory()
        self._validators: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._db = open_database(path)
        self._scheduler = Scheduler(self._db, self._ids, self._timing)
        with self._tx():  # one process at a time brings the file up to date and seeds it
            upgrade(self._db)
            if seed and self._db.execute("SELECT COUNT(*) FROM projects").fetchone()[0] == 0:
                self.seed(catalog or load_catalog(), backdate=True)
            elif seed and self._db.execute("SELECT COUNT(*) FROM gpus").fetchone()[0] == 0:
                self.seed(Catalog(gpus=(catalog or load_catalog()).gpus))  # a database from before GPUs were listed
        if gpus is not None:
            self.set_gpus(gpus)

    @property
    def timing(self) -> lifecycle.LifecycleTiming:
        return self._timing

    @timing.setter
    def timing(self, timing: lifecycle.LifecycleTiming) -> None:  # a knob: runs created, and trained, from now on
        self._timing = self._scheduler.timing = timing

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
                self._scheduler.record_events(run_id, [lifecycle.Effect(at=now, status="run_created")])
            return run_id

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
            state, effect = lifecycle.request_stop(clock_of(row), now, grace, self.timing)
            with self._tx():
                self._scheduler.save_clock(run_id, state, now)
                self._scheduler.record_events(run_id, [effect])

    def delete_run(self, run_id: str) -> None:
        """Any run can be deleted; an active one is terminated first. Its checkpoints go with it."""
        with self._lock:
            self.advance()
            row = self._run_row(run_id)
            with self._tx():
                if row["status"] not in FINISHED_STATUSES:
                    self._scheduler.record_events(run_id, [lifecycle.Effect(at=self._now(), status="job_terminated",
                                                                  details={"reason": "run deleted"})])
                self._db.execute("UPDATE runs SET deleted=1, next_at=NULL, waiting=NULL WHERE id=?", [run_id])
                self._db.execute("UPDATE checkpoints SET deleted=1 WHERE run_id=?", [run_id])
                self._scheduler.advance(self._now())  # its GPUs are free now: a waiting run starts now

    # ------------------------------------------------------------------ lifecycle

    def _recipe(self, task_type: str, config: dict[str, Any]) -> training.Recipe:
        return training.recipe(task_type, config, self._scheduler.dataset_sizes())

    def advance(self) -> int:
        """Let every run catch up with the clock (``Scheduler.advance``); return how many transitions happened."""
        with self._lock:
            now = self._now()
            if not self._scheduler.due(now):
                return 0
            with self._tx():  # read again under the write lock: another process may have advanced them meanwhile
                return self._scheduler.advance(self._now())

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
