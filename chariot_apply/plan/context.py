"""What every part of the pure diff shares: the context one plan is made in (the live state, the options, the
server's validation of configs, the runs at each address, the declared runs by address), and the small helpers the
parts all use to speak of a run. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chariot_apply.chariot.models import Run
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.live import LiveState, RunIdentity, RunKey, Validation
from chariot_apply.plan.model import Invalid, Item, LiveRun, PlanOptions, Problem
from chariot_apply.plan.ownership import is_owned, parse_notes


@dataclass(frozen=True)
class PlanContext:
    live: LiveState
    options: PlanOptions
    validation: Validation | None  # None: the draft plan, before the server has validated any config
    by_address: Mapping[RunKey, list[Run]] = field(default_factory=dict)
    declared_at: Mapping[RunKey, tuple[str, DeclaredRun]] = field(default_factory=dict)  # (address, run)
    cycles: Mapping[RunKey, list[str]] = field(default_factory=dict)  # the dependency cycle a run is on

    def owned(self, run: RunIdentity) -> bool:
        return is_owned(run.notes, run.id, self.options.owner, self.live.adopted)


def address(project: str, name: str, version: str) -> str:
    return f"{project}/{name}@{version}"


def live_ref(run: RunIdentity) -> LiveRun:
    """What a plan keeps of a live run."""
    _, marker = parse_notes(run.notes)
    return LiveRun(id=run.id or "", status=run.status, owner=marker.owner if marker else None,
                   blueprint_id=run.blueprint_id, created_at=run.created_at,
                   gpu=run.resources.gpu if run.resources is not None else None)


def invalid(addr: str, run: DeclaredRun, path: str, message: str, hint: str, *, code: str) -> Item:
    """A located problem that keeps ``run`` from being planned."""
    return Invalid(address=addr, reason=hint, sensitive=run.spec.sensitive,
                   problems=(Problem(location=str(run.where(path)), path=path, message=message, code=code),))


def suggestion(given: str, choices: Iterable[str]) -> str:
    """The did-you-mean of a plan's located problems: looser than a flag's, and listing more."""
    return did_you_mean(given, choices, cutoff=0.5, listed=20)
