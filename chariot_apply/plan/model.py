"""The plan: a frozen value, built without side effects, saved and reloaded as JSON (``schemas/plan.schema.json``).

Items are actions (create, stop, delete, replace, no-op) and the things a user must see that
are not actions (conflict, prune candidate, blocked replace, invalid, waiting).

A change is of one of two kinds. A *declared change* is what the manifests changed: a reviewer approves it, the
review record fingerprints it, and a merge applies it only within the review. A *lifecycle action* is what an
already-reviewed declaration calls for as time passes (checkpoint retention, a promotion once its run finished,
a limit's stop, a retry after a failure, a create once what it depends on has finished): it carries the ``rule``
that calls for it, is derived afresh from the manifests each time, and never makes a merge diverge.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, assert_never, get_args

from pydantic import BaseModel, ConfigDict, Field

from chariot_apply.chariot.models import FINISHED_STATUSES, STOPPING_STATUSES, Gpu, Resources
from chariot_apply.manifest.policy import Policy
from chariot_apply.plan.costs import Footprint, Risk

PLAN_FORMAT_VERSION: Literal[1] = 1


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


Phase = Literal["active", "stopping", "finished", "unknown"]


def phase_of(status: str | None) -> Phase:
    if status in FINISHED_STATUSES:
        return "finished"
    if status in STOPPING_STATUSES:
        return "stopping"
    return "active" if status else "unknown"


class LiveRun(Frozen):
    """What the plan saw of a live run."""

    id: str
    status: str | None = None
    owner: str | None = None
    blueprint_id: str | None = None
    created_at: datetime | None = None
    gpu: Gpu | None = None  # the GPUs it asks for (held while active)

    @property
    def phase(self) -> Phase:
        return phase_of(self.status)


class BlueprintChoice(Frozen):
    name: str
    pattern: str | None = None
    id: str
    version: str


class RunRequest(Frozen):
    """Exactly what ``create_run`` will be sent."""

    name: str
    version: str
    project_id: str
    blueprint_id: str
    task_type: str
    resources: Resources
    config: dict[str, Any]
    notes: str
    spec_hash: str


class Difference(Frozen):
    path: str
    live: Any = None
    declared: Any = None
    in_live: bool = True
    in_manifest: bool = True


class Problem(Frozen):
    location: str
    path: str
    message: str
    code: str = ""  # diagnostics.codes (every problem the planner finds names one; "" in plans saved before codes)


class _Item(Frozen):
    address: str
    reason: str = ""
    notices: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()


class Create(_Item):
    kind: Literal["create"] = "create"
    blueprint: BlueprintChoice
    run: RunRequest
    rule: str = ""  # set: a lifecycle create (a retry after a failure, or once what it depends on finished)
    #: Failed runs of ours at the address, kept as the attempts before this one (never taken for this create).
    attempts: tuple[LiveRun, ...] = ()


class Stop(_Item):
    kind: Literal["stop"] = "stop"
    live: LiveRun
    rule: str = ""  # set: a lifecycle stop (spec.limits)


class Delete(_Item):
    kind: Literal["delete"] = "delete"
    live: LiveRun
    prune: bool = False


class Replace(_Item):
    kind: Literal["replace"] = "replace"
    live: LiveRun
    blueprint: BlueprintChoice
    run: RunRequest
    differences: tuple[Difference, ...]
    rule: str = ""  # set: a lifecycle replace (spec.limits.stall with action: recreate)


class NoOp(_Item):
    kind: Literal["no-op"] = "no-op"
    live: LiveRun | None = None


class Conflict(_Item):
    kind: Literal["conflict"] = "conflict"
    live: LiveRun


class PruneCandidate(_Item):
    kind: Literal["prune-candidate"] = "prune-candidate"
    live: LiveRun


class Promote(_Item):
    """A model made from a complete checkpoint of the run (``create_model_from_checkpoint``)."""

    kind: Literal["promote"] = "promote"
    live: LiveRun
    checkpoint_id: str
    global_step: int
    model_name: str
    model_version: str
    model_project_id: str
    summary: str  # ends with our marker: the model is found again by it
    rule: str = "spec.promote"


class DeleteCheckpoints(_Item):
    """Checkpoints the run's retention policy does not keep (never one a model was made from)."""

    kind: Literal["delete-checkpoints"] = "delete-checkpoints"
    live: LiveRun
    checkpoint_ids: tuple[str, ...]
    steps: tuple[int, ...]
    rule: str = "spec.checkpoints.keep"
    #: The projects whose models were read to keep the checkpoints models came from: read again before deleting.
    model_projects: tuple[str, ...] = ()


class Waiting(_Item):
    """A declared run not created yet because what it depends on has not finished (``spec.dependsOn``, or a
    ``${run:...}`` reference): created by a later apply or ``reconcile`` once it has."""

    kind: Literal["waiting"] = "waiting"
    upstreams: tuple[str, ...]
    spec_hash: str
    #: A point of a sweep in waves (``spec.maxConcurrent``): it takes the place of a point that finishes, so it
    #: adds nothing to the plan's peak of GPUs
    queued: bool = False


class Failed(_Item):
    """The declared run's live run failed; it is left as it is (``spec.onFailure: leave``)."""

    kind: Literal["failed"] = "failed"
    live: LiveRun


class Blocked(_Item):
    """A change the manifests call for that may not be made now: a lifecycle action on a protected run (a stop at
    its limit, a recreate), or a create that waits on an upstream that failed. A warning with the reason and the
    fix: it fails nothing and blocks no other change, and it is said wherever the plan is (the summary, the drift
    issue, reconcile's report) until it is fixed."""

    kind: Literal["blocked"] = "blocked"
    action: str  # the change that is not made: "stop", "replace", "create"
    rule: str = ""  # the rule that called for it
    fix: str = ""
    location: str = ""  # the manifest line that blocks it (``spec.protect``, the dependency)
    live: LiveRun | None = None


class BlockedReplace(_Item):
    kind: Literal["blocked-replace"] = "blocked-replace"
    live: LiveRun
    differences: tuple[Difference, ...]
    run: RunRequest | None = None  # what the replacement would send: its config is validated like a create's


class Invalid(_Item):
    kind: Literal["invalid"] = "invalid"
    problems: tuple[Problem, ...]


class Violation(_Item):
    """A team rule (the project file's ``policy``) the plan breaks: located at the manifest line that causes it,
    with the rule's own line. Like a conflict, the plan fails on it; unlike one, nothing is applied."""

    kind: Literal["violation"] = "violation"
    rule: str
    rule_location: str
    problems: tuple[Problem, ...]


Item = Annotated[
    Create | Stop | Delete | Replace | NoOp | Conflict | PruneCandidate | BlockedReplace | Invalid | Failed | Promote
    | DeleteCheckpoints | Waiting | Violation | Blocked,
    Field(discriminator="kind"),
]
Change = Create | Stop | Delete | Replace | Promote | DeleteCheckpoints
ItemKind = Literal["create", "stop", "delete", "replace", "no-op", "conflict", "blocked-replace", "invalid",
                   "prune-candidate", "failed", "promote", "delete-checkpoints", "waiting", "violation", "blocked"]
ITEM_KINDS: tuple[ItemKind, ...] = get_args(ItemKind)


@dataclass(frozen=True)
class KindTraits:
    """How a kind of plan item is grouped, ordered and drawn. The one table of kinds: ``traits`` matches
    exhaustively, so a new kind fails type-checking until it has its traits."""

    group: Literal["change", "attention", "quiet"]
    order: int  # among the items of one address, the most urgent first
    symbol: str


def traits(kind: ItemKind) -> KindTraits:
    match kind:
        case "invalid":
            return KindTraits("attention", 0, "x")
        case "conflict":
            return KindTraits("attention", 1, "!")
        case "violation":
            return KindTraits("attention", 1, "!")
        case "blocked-replace":
            return KindTraits("attention", 2, "!")
        case "replace":
            return KindTraits("change", 3, "-/+")
        case "delete":
            return KindTraits("change", 4, "-")
        case "stop":
            return KindTraits("change", 5, "~")
        case "create":
            return KindTraits("change", 6, "+")
        case "prune-candidate":
            return KindTraits("attention", 7, "?")
        case "failed":
            return KindTraits("attention", 7, "x")
        case "blocked":
            return KindTraits("attention", 7, "!")
        case "promote":
            return KindTraits("change", 6, "+")
        case "delete-checkpoints":
            return KindTraits("change", 4, "-")
        case "waiting":
            return KindTraits("quiet", 6, "…")
        case "no-op":
            return KindTraits("quiet", 8, " ")
        case _:
            assert_never(kind)


def is_lifecycle(change: Change) -> bool:
    """Whether ``change`` is a lifecycle action (what a reviewed rule calls for now), not a declared change."""
    match change:
        case Promote() | DeleteCheckpoints():
            return True
        case Create() | Stop() | Replace():
            return bool(change.rule)
        case Delete():
            return False
        case _:
            assert_never(change)


#: Marks a lifecycle action's key in ``Plan.action_keys`` (and in review records).
LIFECYCLE_KEY = "lifecycle:"


CHANGE_KINDS: tuple[ItemKind, ...] = tuple(k for k in ITEM_KINDS if traits(k).group == "change")
ATTENTION_KINDS: tuple[ItemKind, ...] = tuple(k for k in ITEM_KINDS if traits(k).group == "attention")


class PlanOptions(Frozen):
    owner: str
    prune: bool = False
    allow_replace: bool = False
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    strict_config: bool = False  # a config key the blueprint's schema does not name is an error, not a warning
    policy: Policy | None = None  # the team's rules (the project file's policy), checked like a conflict
    allow_protected: bool = False  # spec.protect: true runs may be stopped, deleted or replaced
    prices: dict[str, float] = Field(default_factory=dict)  # per GPU type and hour, to turn GPU-hours into money
    currency: str | None = None  # what the prices are in (the project file's prices.currency)


class Observed(Frozen):
    """The live runs found at an address when the plan was made (to refuse a stale plan)."""

    address: str
    project_id: str
    name: str
    version: str
    runs: tuple[LiveRun, ...]

    def fingerprint(self) -> frozenset[tuple[str, Phase, str | None]]:
        return frozenset((r.id, r.phase, r.owner) for r in self.runs)


EMBEDDED_EMULATOR = "embedded emulator"
#: The server of a plan made through the SDK: whichever Chariot the SDK's own configuration names.
SDK_CONFIGURED = "the Chariot the SDK is configured for"


class PlanTarget(Frozen):
    """Which Chariot a plan was made against, and of what: a plan is applied there and nowhere else."""

    server: str  # the Chariot URL (credentials never included), or EMBEDDED_EMULATOR, or SDK_CONFIGURED
    commit: str | None = None  # the commit planned (the GitHub Action knows it)
    planned_at: datetime | None = None
    backend: Literal["rest", "sdk"] = "rest"  # how it was reached: our REST client, or the official SDK

    @property
    def embedded(self) -> bool:
        return self.server == EMBEDDED_EMULATOR


class Plan(Frozen):
    format_version: Literal[1] = PLAN_FORMAT_VERSION
    options: PlanOptions
    items: tuple[Item, ...]
    observed: tuple[Observed, ...] = ()
    warnings: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()  # --target/--exclude selectors that matched no run
    target: PlanTarget | None = None  # set where the plan is made (the pure diff knows no server)
    footprint: Footprint = Footprint()
    risk: Risk = Risk()

    def header(self) -> str:
        """``Chariot https://... · owner team · commit 1a2b3c4``: what the plan is about, said first."""
        if self.target is None:
            return f"owner {self.options.owner}"
        where = ("the EMBEDDED EMULATOR (nothing reaches a real Chariot)" if self.target.embedded
                 else f"Chariot {self.target.server}" if self.target.server != SDK_CONFIGURED
                 else SDK_CONFIGURED)
        parts = [where, f"backend {self.target.backend}", f"owner {self.options.owner}"]
        if self.target.commit:
            parts.append(f"commit {self.target.commit[:12]}")
        return " · ".join(parts)

    def fingerprint(self) -> str:
        """A hash of the declared changes (each one's address, kind, spec and the run it touches): equal
        fingerprints, equal declared applies. What a reviewer saw is checked against it on merge; lifecycle
        actions are not in it (they change as runs train)."""
        digest = hashlib.sha256("\n".join(self.declared_keys()).encode()).hexdigest()
        return digest[:16]

    def declared_keys(self) -> tuple[str, ...]:
        """The keys of the declared changes: what a review approves."""
        return tuple(k for k in self.action_keys() if LIFECYCLE_KEY not in k)

    def action_keys(self) -> tuple[str, ...]:
        """One sorted line per change: ``address kind spec-hash live-run-id``; a lifecycle action's kind is
        ``lifecycle:KIND``; a waiting create is keyed as the lifecycle create it will be."""
        keys = [f"{w.address} {LIFECYCLE_KEY}create {w.spec_hash} -" for w in self.waiting]
        for change in self.changes:
            match change:
                case Create() | Replace():
                    what = change.run.spec_hash
                case Promote():
                    what = f"{change.model_name}@{change.model_version}<-{change.checkpoint_id}"
                case DeleteCheckpoints():
                    what = ",".join(change.checkpoint_ids)
                case Stop() | Delete():
                    what = "-"
                case _:
                    assert_never(change)
            live = "-" if isinstance(change, Create) else change.live.id
            kind = f"{LIFECYCLE_KEY}{change.kind}" if is_lifecycle(change) else change.kind
            keys.append(f"{change.address} {kind} {what} {live}")
        return tuple(sorted(keys))

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every change, declared and lifecycle: what ``apply`` carries out."""
        return tuple(i for i in self.items if isinstance(i, Create | Stop | Delete | Replace | Promote
                                                         | DeleteCheckpoints))

    @property
    def declared_changes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not is_lifecycle(c))

    @property
    def lifecycle_actions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if is_lifecycle(c))

    @property
    def waiting(self) -> tuple[Waiting, ...]:
        return tuple(i for i in self.items if isinstance(i, Waiting))

    def only_lifecycle(self) -> Plan:
        """The lifecycle actions of this plan and what waits, nothing else: what ``reconcile`` carries out (the runs
        that need attention are said from the whole plan, and block no lifecycle action elsewhere)."""
        return self.model_copy(update={"items": tuple(i for i in self.items if isinstance(i, Waiting) or (
            isinstance(i, Create | Stop | Delete | Replace | Promote | DeleteCheckpoints) and is_lifecycle(i)))})

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def invalid(self) -> tuple[Invalid, ...]:
        return tuple(i for i in self.items if isinstance(i, Invalid))

    @property
    def blocked(self) -> tuple[Blocked, ...]:
        return tuple(i for i in self.items if isinstance(i, Blocked))

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(i for i in self.items if isinstance(i, Violation))

    @property
    def unreached(self) -> int:
        """Declared runs that applying cannot bring to their declared state (conflicts, blocked replaces)."""
        return sum(1 for i in self.items if isinstance(i, Conflict | BlockedReplace))

    @property
    def needs_attention(self) -> int:
        """Declared runs the apply that follows would fail on: conflicts, blocked replaces, invalid configs.
        ``plan`` exits 1 on them, as that apply would."""
        return self.unreached + len(self.invalid) + len(self.violations)

    def counts(self, lifecycle: bool | None = None) -> dict[str, int]:
        """Items by kind; ``lifecycle`` True or False: only the changes of that kind, and every other item."""
        counted: Counter[str] = Counter(i.kind for i in self.items if lifecycle is None or not isinstance(
            i, Create | Stop | Delete | Replace | Promote | DeleteCheckpoints) or is_lifecycle(i) == lifecycle)
        return {kind: counted.get(kind, 0) for kind in ITEM_KINDS}

    def lifecycle_summary(self) -> str:
        """``Lifecycle: 1 stop, 1 create, 3 checkpoints deleted; 1 waiting.`` (empty: none)."""
        c = self.counts(lifecycle=True)
        parts = [f"{c[k]} {word}" for k, word in (("stop", "to stop"), ("replace", "to recreate"),
                                                  ("create", "to create"), ("promote", "to promote"))
                 if c[k]]
        deleted = sum(len(a.checkpoint_ids) for a in self.lifecycle_actions if isinstance(a, DeleteCheckpoints))
        if deleted:
            parts.append(f"{deleted} checkpoint(s) to delete")
        if c["waiting"]:
            parts.append(f"{c['waiting']} waiting")
        return f"Lifecycle: {', '.join(parts)}." if parts else ""

    def summary(self) -> str:
        """The counts line, as Terraform prints it (declared changes), then the lifecycle's."""
        c = self.counts(lifecycle=False)
        # A run declared stopped or absent that never existed is not "unchanged": there is nothing to change.
        nothing = sum(1 for i in self.items if isinstance(i, NoOp) and i.live is None)
        line = (f"Plan: {c['create']} to create, {c['replace']} to replace, {c['stop']} to stop, "
                f"{c['delete']} to delete; {c['no-op'] - nothing} unchanged"
                + (f", {nothing} declared stopped or absent with no such run." if nothing else "."))
        attention = [f"{c[k]} {k.replace('-', ' ')}{'s' if c[k] != 1 and k != 'invalid' else ''}"
                     for k in ATTENTION_KINDS if c[k] and k not in ("prune-candidate", "failed", "blocked")]
        if attention:
            line += f" {self.needs_attention} need attention: {', '.join(attention)}."
        if c["prune-candidate"]:
            line += f" {c['prune-candidate']} not declared (deleted with --prune)."
        if c["failed"]:
            line += f" {c['failed']} failed (left alone; spec.onFailure: recreate recreates them)."
        if c["blocked"]:
            line += f" {c['blocked']} blocked (called for, not allowed now: see why and the fix)."
        lifecycle = self.lifecycle_summary()
        return f"{line} {lifecycle}" if lifecycle else line
