"""The emulator's scheduler: every run catches up with the clock, transitions taken in time order across runs, so
that a run waiting for GPUs starts the moment another one frees them, however far the clock has moved since the
last request. What happens to each run (its steps, metrics, checkpoints, events) is ``lifecycle`` and ``training``;
this module orders it, admits runs to the cluster, and writes the outcome into the store's tables."""

from __future__ import annotations

import heapq
import json
import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chariot_apply.emulator import lifecycle, training
from chariot_apply.emulator.cluster import Cluster, gpu_of


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
        # str(uuid.UUID(int=...)), written out: a catch-up makes one id a metric (4 µs each through UUID)
        h = f"{value & ((1 << 128) - 1):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def clock_of(row: sqlite3.Row) -> lifecycle.RunClock:
    return lifecycle.RunClock(status=row["status"], phase=row["phase"], global_step=row["global_step"],
                              total_steps=row["total_steps"], next_at=row["next_at"], stop_at=row["stop_at"],
                              grace=row["grace"], fail_step=row["fail_step"], restart_step=row["restart_step"],
                              stall_step=row["stall_step"], evaluating=row["eval_value"], waiting=row["waiting"])


@dataclass
class _Catchup:
    """One catch-up of the runs that are due or wait for GPUs: each one's clock as it moves, what happened to it,
    and what is worked out once a run rather than at each of its steps."""

    rows: dict[str, sqlite3.Row]
    waiting: dict[str, sqlite3.Row]
    clocks: dict[str, lifecycle.RunClock]
    cluster: Cluster | None
    effects: dict[str, list[lifecycle.Effect]] = field(default_factory=dict)
    recipes: dict[str, training.Recipe] = field(default_factory=dict)
    gpus: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    admissions: dict[str, lifecycle.Admission] = field(default_factory=dict)


class Scheduler:
    def __init__(self, db: sqlite3.Connection, ids: IdFactory, timing: lifecycle.LifecycleTiming) -> None:
        self._db, self._ids, self.timing = db, ids, timing

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, tuple(params)).fetchall()

    def dataset_sizes(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._query("SELECT id, size FROM datasets")}

    def due(self, now: float) -> bool:
        """Whether anything can happen by ``now``: a run's next transition, or a waiting run that fits now (a run
        was stopped or deleted since)."""
        if self._query("SELECT 1 FROM runs WHERE next_at IS NOT NULL AND next_at <= ? AND deleted=0 LIMIT 1", [now]):
            return True
        waiting = self._query("SELECT resources FROM runs WHERE waiting IS NOT NULL AND deleted=0 "
                              "ORDER BY created_at LIMIT 1")
        return bool(waiting) and Cluster.of(self._db).fits(gpu_of(waiting[0]["resources"]))

    def advance(self, now: float) -> int:
        """Every run caught up with ``now`` (inside the caller's write transaction); how many transitions happened."""
        due = {r["id"]: r for r in self._query(
            "SELECT * FROM runs WHERE next_at IS NOT NULL AND next_at <= ? AND deleted=0", [now])}
        waiting = {r["id"]: r for r in self._query(
            "SELECT * FROM runs WHERE waiting IS NOT NULL AND deleted=0 ORDER BY created_at")}
        rows = due | waiting
        state = _Catchup(rows, waiting, {run_id: clock_of(row) for run_id, row in rows.items()},
                         Cluster.of(self._db) if waiting else None, {run_id: [] for run_id in rows})
        queue = [(clock.next_at, run_id) for run_id, clock in state.clocks.items() if clock.next_at is not None]
        if state.cluster is not None:
            queue += _wake(state, state.cluster, now)
        heapq.heapify(queue)
        sizes = self.dataset_sizes()
        while queue:
            at, run_id = heapq.heappop(queue)
            clock = state.clocks[run_id]
            if clock.next_at == at and at <= now and not clock.finished:
                for item in self._step(state, run_id, at, now, sizes):
                    heapq.heappush(queue, item)
        return self._commit(state)

    def _step(self, state: _Catchup, run_id: str, at: float, now: float,
              sizes: dict[str, int]) -> list[tuple[float, str]]:
        """One run's next transition (or, without GPUs, all of them up to ``now``): what comes due after it."""
        row = state.rows[run_id]
        if run_id not in state.recipes:  # worked out once a run, not at each of its steps
            state.recipes[run_id] = training.recipe(row["task_type"], json.loads(row["config"]), sizes)
            state.gpus[run_id] = gpu_of(row["resources"])
            if state.gpus[run_id] is not None and state.cluster is None:
                state.cluster = Cluster.of(self._db)
            state.admissions[run_id] = self._admission(row, state.recipes[run_id], state.gpus[run_id], state.cluster)
        clock, gpu = state.clocks[run_id], state.gpus[run_id]
        held = clock.phase == lifecycle.RUNNING and not clock.finished and clock.waiting is None
        # A run without GPUs touches no other run: it catches up in one go. One with GPUs goes a moment at a time,
        # so that what it frees is taken in time order.
        clock, happened = lifecycle.advance(clock, now if gpu is None else at, self.timing, state.recipes[run_id],
                                            run_id, state.admissions[run_id])
        state.clocks[run_id] = clock
        state.effects[run_id] += happened
        after = [(clock.next_at, run_id)] if clock.next_at is not None else []
        if held and clock.finished and gpu is not None and state.cluster is not None:
            state.cluster.release(gpu)
            after += _wake(state, state.cluster, at)
        return after

    def _commit(self, state: _Catchup) -> int:
        count = 0
        for run_id, happened in state.effects.items():
            if happened or state.clocks[run_id] != clock_of(state.rows[run_id]):
                self._apply(state.rows[run_id], state.clocks[run_id], happened, state.recipes.get(run_id))
                count += len(happened)
        return count

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

    def save_clock(self, run_id: str, state: lifecycle.RunClock, status_at: float,
                   recipe: training.Recipe | None = None) -> None:
        self._db.execute(
            "UPDATE runs SET status=?, status_updated_at=?, phase=?, global_step=?, next_at=?, stop_at=?, grace=?, "
            "restart_step=?, eval_value=?, eval_total=?, waiting=? WHERE id=?",
            (state.status, status_at, state.phase, state.global_step, state.next_at, state.stop_at, state.grace,
             state.restart_step, state.evaluating, None if state.evaluating is None or recipe is None
             else recipe.eval_batches, state.waiting, run_id))

    def _apply(self, row: sqlite3.Row, state: lifecycle.RunClock, effects: list[lifecycle.Effect],
               recipe: training.Recipe | None) -> None:
        """What happened to one run, written: its metrics, checkpoints, events, clock and progress time."""
        run_id = row["id"]
        status_at = row["status_updated_at"]
        metrics, last_step_at = [], None
        checkpoints = _Checkpoints(self._db, self._ids, row)
        for effect in effects:
            at = round(effect.at, 6)  # stored as served: to the microsecond (keyset filters are strict)
            if effect.progress or effect.global_step is not None:
                last_step_at = at
            if effect.global_step is not None:
                metrics += [(self._ids.new(at), run_id, effect.global_step, tag, value, at, run_id)
                            for tag, value in effect.metrics.items()]
                checkpoints.step(effect, at)
            if effect.status:
                status_at = at
        checkpoints.write()
        self._db.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?)", metrics)
        self.record_events(run_id, [e for e in effects if e.status])
        self.save_clock(run_id, state, status_at, recipe)
        if last_step_at is not None:
            self._db.execute("UPDATE runs SET progress_updated_at=? WHERE id=?", [last_step_at, run_id])

    def record_events(self, run_id: str, effects: list[lifecycle.Effect]) -> None:
        if not effects:
            return
        start = self._db.execute("SELECT events FROM runs WHERE id=?", [run_id]).fetchone()[0]
        rows = [(self._ids.new(e.at), run_id, start + i + 1, round(e.at, 6), e.status, json.dumps(e.details))
                for i, e in enumerate(effects)]
        self._db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", rows)
        self._db.execute("UPDATE runs SET events=? WHERE id=?", [start + len(rows), run_id])


def _wake(state: _Catchup, cluster: Cluster, at: float) -> list[tuple[float, str]]:
    """Runs that wait for GPUs, oldest first, that fit now: due at ``at``. The oldest that does not fit keeps the
    others waiting behind it (first come, first served)."""
    out = []
    for run_id, row in state.waiting.items():
        clock = state.clocks[run_id]
        if clock.waiting is None or clock.finished or clock.stop_at is not None:
            continue
        if not cluster.fits(gpu_of(row["resources"])):
            break
        state.clocks[run_id] = clock._replace(waiting=None, next_at=at)
        out.append((at, run_id))
    return out


class _Checkpoints:
    """One run's checkpoints through a catch-up: each is saved incomplete and completed by the next step. Those of
    the catch-up itself are kept here until the end and inserted at once, as they stand: a statement per step
    was a third of a long catch-up."""

    def __init__(self, db: sqlite3.Connection, ids: IdFactory, row: sqlite3.Row) -> None:
        self._db, self._ids, self._row = db, ids, row
        self._stored_completed = False  # the incomplete ones from before this catch-up
        self._new: list[list[Any]] = []  # id, run, project, step, created, status, status time

    def step(self, effect: lifecycle.Effect, at: float) -> None:
        if effect.complete_checkpoints:  # the next step has uploaded them
            if not self._stored_completed:
                self._db.execute("UPDATE checkpoints SET status='complete', status_updated_at=? "
                                 "WHERE run_id=? AND status='incomplete'", [at, self._row["id"]])
                self._stored_completed = True
            for made in self._new:
                if made[5] == "incomplete":
                    made[5], made[6] = "complete", at
        if effect.checkpoint:  # the last one is complete at once: the run is over
            self._new.append([self._ids.new(at), self._row["id"], self._row["project_id"], effect.global_step, at,
                              "complete" if effect.status else "incomplete", at])

    def write(self) -> None:
        if self._new:
            self._db.executemany("INSERT INTO checkpoints (id, run_id, project_id, global_step, created_at, status, "
                                 "status_updated_at) VALUES (?,?,?,?,?,?,?)", self._new)
