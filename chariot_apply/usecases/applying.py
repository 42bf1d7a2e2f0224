"""Applying a plan: the saved plan's target, the gate every apply passes (the CLI's and the Action's alike),
and the apply itself."""


from __future__ import annotations

from chariot_apply.apply.executor import ApplyResult, Executor, Reporter
from chariot_apply.apply.stale import stale_addresses
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.plan.model import Plan
from chariot_apply.workspace.pending_models import add_pending
from chariot_apply.workspace.project import Workspace


class StalePlanError(UserError):
    hint = "run `chariot-apply plan` again and review the new plan"

    def __init__(self, stale: list[str]) -> None:
        super().__init__("the plan is stale: runs it changes have changed since it was made:", details=tuple(stale))


async def apply(workspace: Workspace, plan_: Plan, reporter: Reporter, *, check_stale: bool,
                concurrency: int = 16, pull_request: int | None = None) -> ApplyResult:
    async with workspace.client() as client:
        if check_stale:
            stale = await stale_addresses(client, plan_)
            if stale:
                raise StalePlanError(stale)
        result = await Executor(client, reporter, concurrency=concurrency, pull_request=pull_request).apply(plan_)
        sent_at = client.server_now()  # pending creates are timed by the server's clock, as plans read them
    if result.pending_models:
        add_pending(workspace.pending_path, result.pending_models, sent_at)
    return result


def check_plan_target(plan_: Plan, workspace: Workspace) -> None:
    """A saved plan is applied to the Chariot, and as the owner, it was made for; nowhere else."""
    if plan_.target is not None and plan_.target.server != workspace.connection.server_name:
        raise UserError(f"this plan was made for {plan_.target.server}, not {workspace.connection.server_name}",
                        hint="apply it with the same CHARIOT_URL it was planned with, or plan again here")
    if plan_.options.owner != workspace.project.owner:
        raise UserError(f"this plan was made for owner {plan_.options.owner!r}, not {workspace.project.owner!r}",
                        hint="apply it with the same owner (--owner, CHARIOT_APPLY_OWNER, the project file)")



