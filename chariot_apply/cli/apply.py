"""``chariot-apply apply``: carry out the plan (the manifests' or a saved one), and optionally wait for the runs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from chariot_apply.apply.executor import ApplyResult, Outcome
from chariot_apply.chariot.models import Run
from chariot_apply.cli.common import (
    DeadlineExceeded,
    command,
    duration_option,
    files_option,
    global_settings,
    hold_the_writers_lock,
    interval_option,
    locked_option,
    open_workspace,
    parse_duration,
    run,
    selection_options,
    with_options,
)
from chariot_apply.cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from chariot_apply.cli.plan import plan_options
from chariot_apply.cli.reporter import TerminalReporter
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.plan import document as planfile
from chariot_apply.plan.model import Plan
from chariot_apply.render.apply import summarize, wait_ended
from chariot_apply.render.describe import outcome_line
from chariot_apply.render.text import render_text
from chariot_apply.usecases import applying, planning, reconciling
from chariot_apply.workspace.project import Workspace


@command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path))
@files_option
@with_options(selection_options)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (a saved plan never asks: "
                                                    "it was approved when it was saved).")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@locked_option
@click.option("--wait", is_flag=True, help="Then wait for the runs it created to reach --until; exit 1 if one "
                                           "failed or --timeout passed (for CI).")
@click.option("--until", type=click.Choice(["running", "finished"]), default="running", show_default=True)
@click.option("--timeout", default="30m", show_default=True, callback=duration_option,
              help="How long --wait waits (90s, 15m, 2h); the whole command still ends by --deadline.")
@interval_option
@click.pass_context
def apply(ctx: click.Context, plan_file: Path | None, files: tuple[str, ...], prune: bool, allow_replace: bool,
          target: tuple[str, ...], exclude: tuple[str, ...], strict_config: bool, allow_protected: bool,
          auto_approve: bool, concurrency: int,
          locked: bool, wait: bool, until: str, timeout: str, interval: float) -> None:
    """Make Chariot match the manifests (or carry out a saved PLAN_FILE exactly)."""
    color = global_settings(ctx).color
    if plan_file is not None:
        result_plan = planfile.load_saved_plan(plan_file)
        if files or prune or allow_replace or target or exclude or strict_config or allow_protected:
            raise UserError("a saved plan is applied as it is",
                            hint="drop -f/--prune/--allow-replace/--allow-protected/--target/--exclude",
                            code=codes.USAGE)
        ws = open_workspace(ctx, (), need_manifests=False)
        applying.check_plan_target(result_plan, ws)
        hold_the_writers_lock(ctx, ws)
    else:
        ws = open_workspace(ctx, files)
        hold_the_writers_lock(ctx, ws)  # planned after any other writer has written: it sees what they did
        result_plan = run(planning.plan(ws, plan_options(ws, prune, allow_replace, target, exclude, strict_config,
                                                     allow_protected), locked=locked),
                          bulk_heap=True)
    wait_seconds = parse_duration(timeout) if wait else 0.0
    on_terminal = sys.stdout.isatty()
    # A long plan on a terminal: one line a run, not every detail (`plan` shows them all).
    click.echo(render_text(result_plan, color=color, compact=on_terminal and len(result_plan.changes) > 50), nl=False)
    refused = applying.refusal(result_plan)  # said before any confirmation; `apply` itself refuses it too
    if refused is not None:
        raise refused
    if not result_plan.has_changes:
        ctx.exit(_attention_exit(result_plan))
    if not auto_approve and plan_file is None:  # Terraform's rule: a saved plan was approved when saved
        if not sys.stdin.isatty():
            raise UserError("refusing to apply without confirmation, and there is no terminal to ask on",
                            hint="review the plan, then run again with --auto-approve", code=codes.USAGE)
        if not click.confirm("Apply these changes?", default=False):
            click.echo("Nothing applied.")
            ctx.exit(EXIT_ERROR)
    reporter = TerminalReporter(color, len(result_plan.changes), on_terminal)
    try:
        result = run(applying.apply(ws, result_plan, reporter, check_stale=plan_file is not None,
                                    concurrency=concurrency))
    except (KeyboardInterrupt, DeadlineExceeded) as stopped:
        _report(ApplyResult(tuple(reporter.outcomes)), interrupted=True)
        if isinstance(stopped, DeadlineExceeded):
            click.secho(f"Error: {stopped.message}", err=True, fg="red")
        unknown = len(result_plan.changes) - len(reporter.outcomes)
        click.secho(f"Interrupted: {unknown} change(s) were not finished; some may have reached Chariot.",
                    err=True, fg="red")
        click.echo(f"Hint: run {hints.APPLY.cited()} again: it looks before it creates, and converges.", err=True)
        ctx.exit(EXIT_ERROR if isinstance(stopped, DeadlineExceeded) else EXIT_INTERRUPTED)
    reporter.done()
    _report(result)
    if result.failed:
        ctx.exit(EXIT_ERROR)
    if wait:
        ctx.exit(_wait(ws, result_plan, result, until, wait_seconds, interval) or _attention_exit(result_plan))
    ctx.exit(_attention_exit(result_plan))


def _wait(ws: Workspace, applied: Plan, result: ApplyResult, until: str, timeout: float, interval: float) -> int:
    created = [o.run_id for o in result.outcomes if o.ok and o.kind in ("create", "replace") and o.run_id]
    if not created and not applied.waiting:
        click.echo("Nothing was created: nothing to wait for.")
        return EXIT_OK
    also = f", then {len(applied.waiting)} that wait for them" if applied.waiting else ""
    click.echo(f"Waiting for {len(created)} run(s) to be {until}{also} (at most {timeout:g}s)...")
    last: dict[str, str | None] = {}

    def on_poll(runs: Sequence[Run]) -> None:
        for run_ in runs:
            if last.get(run_.id or "") != run_.status:
                last[run_.id or ""] = run_.status
                progress = f" {run_.progress[0].value}/{run_.progress[0].final_value}" if run_.progress else ""
                click.echo(f"  {run_.name}@{run_.version} [{run_.id}]: {run_.status}{progress}")

    failures: list[str] = []

    def on_outcome(outcome: Outcome) -> None:
        click.echo(f"  {outcome_line(outcome.address, outcome.kind, outcome.ok, outcome.detail, outcome.run_id)}")
        if not outcome.ok:
            failures.append(outcome.address)

    options = ws.plan_options(strict_config=applied.options.strict_config,
                              allow_protected=applied.options.allow_protected)
    waited = run(reconciling.carry_through(ws, options, applied, created, until, timeout,  # type: ignore[arg-type]
                                        interval, on_poll, on_outcome))
    if failures:
        click.secho(f"Error: {len(failures)} change(s) after the wait failed", err=True, fg="red")
        return EXIT_ERROR
    for failed in waited.failed:
        click.secho(f"Error: {failed.name}@{failed.version} [{failed.id}] {failed.status}", err=True, fg="red")
    if waited.failed:
        click.echo(f"Hint: {hints.EVENTS.cited()} shows what happened", err=True)
        return EXIT_ERROR
    if waited.timed_out:
        click.secho(f"Error: not every run was {until} after {timeout:g}s", err=True, fg="red")
        return EXIT_ERROR
    click.echo(wait_ended(until, [r.status for r in waited.runs]))
    return EXIT_OK


def _attention_exit(plan_: Plan) -> int:
    if plan_.unreached:
        click.echo("Some declared runs were not brought to their declared state (see 'Needs attention').",
                   err=True)
        return EXIT_ERROR
    return EXIT_OK


def _report(result: ApplyResult, interrupted: bool = False) -> None:
    summary = summarize(result, interrupted=interrupted)
    click.echo(summary.line)
    for line in summary.errors:
        if line.startswith("Error:"):
            click.secho(line, err=True, fg="red")
        else:
            click.echo(line, err=True)
