"""Applying a plan: the saved plan's target, the gate every apply passes (the CLI's and the Action's alike),
and the apply itself."""


from __future__ import annotations

from collections.abc import Mapping

from chariot_apply.apply.executor import ApplyResult, Executor, Reporter
from chariot_apply.apply.stale import stale_addresses
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.plan.model import Plan
from chariot_apply.workspace.pending_models import add_pending
from chariot_apply.workspace.project import Workspace


class PlanRefused(UserError):
    """A plan no apply carries out, not even in part: an invalid run or a broken team rule makes the whole apply
    fail (as the plan already said), so that nothing half-done is left to explain."""

    code = codes.PLAN_REFUSED


def refusal(plan_: Plan) -> PlanRefused | None:
    """Why ``plan_`` may not be applied (None: it may). The one gate: ``apply`` raises it, and the CLI and the
    Action ask it first only to say it before anything else (a confirmation, a review)."""
    if plan_.invalid:
        return PlanRefused(f"the plan has {len(plan_.invalid)} invalid run(s); nothing was applied",
                           hint="fix the problems the plan lists, then plan again")
    if plan_.violations:
        return PlanRefused(f"the plan breaks {len(plan_.violations)} of the team's rules; nothing was applied",
                           hint="see 'Needs attention': change the manifests, or the policy in the project file "
                                "(a protected run: --allow-protected)")
    return None


class StalePlanError(UserError):
    code = codes.STALE_PLAN
    hint = f"run {hints.PLAN.cited()} again and review the new plan"

    def __init__(self, stale: list[str]) -> None:
        super().__init__("the plan is stale: runs it changes have changed since it was made:", details=tuple(stale))


async def apply(workspace: Workspace, plan_: Plan, reporter: Reporter, *, check_stale: bool,
                concurrency: int = 16, pull_request: int | None = None,
                pull_requests: Mapping[str, int] | None = None) -> ApplyResult:
    """Carry ``plan_`` out, once it passes the gate (``refusal``) and, for a saved plan (``check_stale``), once its
    runs are as it saw them; under the writers' lock of this Chariot and owner (already held by a caller that
    planned under it, as it should: then the plan saw every other writer's work)."""
    refused = refusal(plan_)
    if refused is not None:
        raise refused
    async with workspace.writer.hold_async(), workspace.client() as client:  # one writer (``workspace.locks``)
        if check_stale:
            stale = await stale_addresses(client, plan_)
            if stale:
                raise StalePlanError(stale)
        result = await Executor(client, reporter, concurrency=concurrency, pull_request=pull_request,
                                pull_requests=dict(pull_requests or {})).apply(plan_)
        sent_at = client.server_now()  # pending creates are timed by the server's clock, as plans read them
    if result.pending_models:
        add_pending(workspace.pending_path, result.pending_models, sent_at)
    return result


def check_plan_target(plan_: Plan, workspace: Workspace) -> None:
    """A saved plan is applied to the Chariot, and as the owner, it was made for; nowhere else."""
    if plan_.target is not None and plan_.target.server != workspace.connection.server_name:
        raise UserError(f"this plan was made for {plan_.target.server}, not {workspace.connection.server_name}",
                        hint="apply it with the same CHARIOT_URL it was planned with, or plan again here",
                        code=codes.PLAN_TARGET)
    if plan_.options.owner != workspace.project.owner:
        raise UserError(f"this plan was made for owner {plan_.options.owner!r}, not {workspace.project.owner!r}",
                        hint="apply it with the same owner (--owner, CHARIOT_APPLY_OWNER, the project file)",
                        code=codes.PLAN_TARGET)



