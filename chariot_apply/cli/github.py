"""``chariot-apply github action|comment|drift``: what the composite action and the drift workflow run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError


@click.group()
def github() -> None:
    """GitHub Actions integration: the action's step, the pull-request comment, the drift check."""


@github.command()
@click.pass_context
def action(ctx: click.Context) -> None:
    """Run the action's step from the runner's environment (CHARIOT_APPLY_*, CHARIOT_*, GITHUB_*)."""
    from chariot_apply.github.action import run_action

    ctx.exit(run_action(os.environ, sys.stdout))


@github.command()
@click.pass_context
def drift(ctx: click.Context) -> None:
    """Plan, and keep one GitHub issue open while Chariot differs from the manifests (closed once in sync).

    Reads the same environment as the action (CHARIOT_URL is required: a URL or `embedded`)."""
    from chariot_apply.github.action import run_action

    ctx.exit(run_action(os.environ, sys.stdout, command="drift"))


@github.command()
@click.option("--plan", "plan_path", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help=f"A plan from {hints.PLAN_OUT.cited()} or `--format json`.")
@click.option("--manifest-set", default="default", show_default=True,
              help="Names the sticky comment: one comment per manifest set.")
@click.option("--environment", default="default", show_default=True,
              help="Names the sticky comment too: one comment per environment.")
def comment(plan_path: Path, manifest_set: str, environment: str) -> None:
    """Post (or update) the sticky plan comment on the pull request of GITHUB_EVENT_PATH."""
    from chariot_apply.github.api import GitHubApi, ReadOnlyToken
    from chariot_apply.github.comments import Provenance, marker_for
    from chariot_apply.github.event import pull_request_from_event
    from chariot_apply.github.pull_request import comment_plan
    from chariot_apply.plan.document import read_plan

    pr = pull_request_from_event(os.environ.get("GITHUB_EVENT_PATH"), os.environ.get("GITHUB_REPOSITORY"))
    if pr is None:
        raise UserError("GITHUB_EVENT_PATH holds no pull_request event", hint="run this on pull_request events",
                        code=codes.GITHUB_EVENT)
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        raise UserError("GITHUB_TOKEN is not set", hint="pass the workflow's token: GITHUB_TOKEN: ${{ github.token }}",
                        code=codes.ACTION_INPUT)
    plan = read_plan(plan_path).plan
    with GitHubApi(os.environ.get("GITHUB_API_URL", "https://api.github.com"), token) as api:
        try:
            done, _ = comment_plan(api, pr, marker_for(environment, manifest_set), plan,
                                   Provenance.of_env(os.environ))
        except ReadOnlyToken as exc:
            click.echo(f"::warning::{exc} (a pull request from a fork gets a read-only token)")
            return
    click.echo(f"pull request comment: {done}")
    click.echo("note: a merge applies only plans whose review record the action kept as its run's artifact; this "
               "comment is for reading (use the action's `command: plan` for plans a merge trusts)")
