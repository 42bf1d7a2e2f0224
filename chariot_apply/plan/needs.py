"""Which live runs' checkpoints, metrics and models a plan must read, from the manifests alone. Pure."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.references import ReferenceError_, qualified, references_in

WrittenKey = tuple[str, str, str]  # (project as written, name, version)


@dataclass(frozen=True)
class Need:
    """What to read of the runs at one address."""

    metrics: bool = False  # a choice by metric
    models: bool = False  # the models of its project (promotions, and the checkpoints models came from)
    failed_only: bool = False  # only its failed runs (a retry resumes from their checkpoints)

    def __or__(self, other: Need) -> Need:
        return Need(self.metrics or other.metrics, self.models or other.models,
                    self.failed_only and other.failed_only)


def harvest_needs(declared: Sequence[DeclaredRun]) -> dict[WrittenKey, Need]:
    needs: dict[WrittenKey, Need] = {}

    def add(key: WrittenKey, need: Need) -> None:
        needs[key] = needs[key] | need if key in needs else need

    for run in declared:
        if run.spec.state != "running":
            continue
        own = (run.project, run.name, run.version)
        keep = run.spec.checkpoints.keep if run.spec.checkpoints else None
        if run.promotions or run.spec.checkpoints:  # its sweep's too: every point is a candidate winner
            add(own, Need(metrics=any(p.checkpoint.select == "best" for p in run.promotions)
                          or (keep is not None and keep.best is not None), models=True))
        origin = run.manifest.metadata.sweep
        if origin is not None and origin.early_stop is not None:  # its metrics, and its peers'
            add(own, Need(metrics=True))
        if run.spec.on_failure.action == "recreate" and run.spec.on_failure.resume == "lastCheckpoint":
            add(own, Need(failed_only=True))
        with contextlib.suppress(ReferenceError_):  # said where the run is planned
            for reference in references_in(run.spec.config):
                upstream = qualified(reference.address, run.project)
                if upstream is not None:
                    add(upstream, Need(metrics=reference.what == "best", models=reference.what == "model"))
    return needs
