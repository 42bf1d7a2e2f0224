"""The emulated cluster's GPUs: how many of each type there are, and how many the running runs hold; whether a run
fits now, ever, or waits."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from chariot_apply.emulator import lifecycle
from chariot_apply.emulator.schema import ACTIVE_CLAUSE


def gpu_of(resources: str) -> tuple[str, int] | None:
    """(type, count) of the GPUs a run's stored resources ask for, if any."""
    gpu = json.loads(resources).get("gpu")
    return (str(gpu.get("type") or ""), int(gpu.get("count") or 0)) if isinstance(gpu, dict) else None


@dataclass
class Cluster:
    """The GPUs of the emulated cluster: how many of each type, and how many the running runs hold."""

    total: dict[str, int]
    used: dict[str, int]

    @classmethod
    def of(cls, db: sqlite3.Connection) -> Cluster:
        total = {r["type"].upper(): r["count"] for r in db.execute("SELECT type, count FROM gpus")}
        used: dict[str, int] = {}
        for row in db.execute(f"SELECT resources FROM runs WHERE phase={lifecycle.RUNNING} AND deleted=0 "
                                f"AND waiting IS NULL AND {ACTIVE_CLAUSE} AND resources LIKE '%\"gpu\"%'"):
            gpu = gpu_of(row["resources"])
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
