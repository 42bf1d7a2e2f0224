"""``chariot-apply emulator serve|seed``: the local stand-in for a Chariot training service."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.workspace.connection import EMBEDDED_DB, GPUS_VARIABLE, gpu_inventory


@click.group()
def emulator() -> None:
    """Run or seed the local Chariot emulator."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535),
              help="0: any free port (the URL is printed on stderr).")
@click.option("--db", type=click.Path(path_type=Path), default=EMBEDDED_DB, show_default=True,
              help="SQLite file (':memory:' for none).")
@click.option("--token", "tokens", multiple=True, envvar="CHARIOT_EMULATOR_TOKENS",
              help="Accept this bearer token (repeatable). With no credentials every call is accepted.")
@click.option("--client-id", help="Accept client credentials with this id (needs --client-secret).")
@click.option("--client-secret", envvar="CHARIOT_EMULATOR_CLIENT_SECRET")
@click.option("--latency", default=0.0, type=click.FloatRange(0, 60), help="Seconds added to every request.")
@click.option("--frozen-clock", is_flag=True, help="Stop simulated time: runs keep their status (benchmarks).")
@click.option("--time-scale", default=1.0, type=click.FloatRange(min=0.001, max=100_000), show_default=True,
              envvar="CHARIOT_EMULATOR_TIME_SCALE",  # as the embedded emulator reads it: one knob for both
              help="Run the simulated training this many times faster (a demo of watching runs: 20) "
                   "[env CHARIOT_EMULATOR_TIME_SCALE].")
@click.option("--fail-at-step", type=click.IntRange(min=1),
              help="Every run trained from scratch fails (job_failed) at this step; a retry that resumes from a "
                   "checkpoint goes past it.")
@click.option("--fail-cause", type=click.Choice(["process", "infrastructure", "preempted"]), default="process",
              show_default=True, help="What those failures say they were (a process that exited, a node that "
                                      "failed, a preemption): for spec.onFailure.retryOn.")
@click.option("--fail-rate", default=0.0, type=click.FloatRange(0, 1), help="This share of runs fails, each at a "
                                                                             "step of its own.")
@click.option("--restart-at-step", type=click.IntRange(min=1),
              help="Every run is restarted once (run_restart_requested) at this step, and resumes from its last "
                   "checkpoint.")
@click.option("--stall-at-step", type=click.IntRange(min=1),
              help="Every run hangs after this step: it stays job_running and its progress never moves again (what "
                   "spec.limits.stall is for).")
@click.option("--gpus", envvar=GPUS_VARIABLE, metavar="TYPE=COUNT,...",
              help="The cluster's GPUs, for example A100=8,T4=4: runs that ask for more than are free wait in "
                   f"job_pending [env {GPUS_VARIABLE}].")
def serve(host: str, port: int, db: Path, tokens: tuple[str, ...], client_id: str | None,
          client_secret: str | None, latency: float, frozen_clock: bool, time_scale: float,
          fail_at_step: int | None, fail_cause: str, fail_rate: float, restart_at_step: int | None,
          stall_at_step: int | None, gpus: str | None) -> None:
    """Serve the emulator over HTTP."""
    from chariot_apply.emulator.app import AuthConfig, create_app
    from chariot_apply.emulator.clock import ManualClock, SystemClock
    from chariot_apply.emulator.faults import Faults
    from chariot_apply.emulator.lifecycle import LifecycleTiming
    from chariot_apply.emulator.server import listening_socket, serve_forever, server_url
    from chariot_apply.emulator.store import EmulatorStore

    if (client_id is None) != (client_secret is None):
        raise click.UsageError("--client-id and --client-secret go together")
    auth = AuthConfig(tokens=set(tokens), clients={client_id: client_secret} if client_id and client_secret else {})
    clock = ManualClock(SystemClock().now()) if frozen_clock else SystemClock()
    timing = replace(LifecycleTiming(), fail_at_step=fail_at_step, fail_cause=fail_cause, fail_probability=fail_rate,
                     restart_at_step=restart_at_step, stall_at_step=stall_at_step).scaled(time_scale)
    inventory = gpu_inventory(gpus)
    app = create_app(EmulatorStore(db, clock=clock, timing=timing, gpus=inventory), auth=auth,
                     faults=Faults(latency_seconds=latency))
    try:
        listener = listening_socket(host, port)
    except OSError as exc:
        raise UserError(f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                        hint="choose another --port (0: any free one)", code=codes.EMULATOR) from None
    url = server_url(*listener.getsockname()[:2])
    click.echo(f"Chariot emulator on {url} (state in {db}); use it with CHARIOT_URL={url}", err=True)
    serve_forever(app, listener)


@emulator.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--db", type=click.Path(path_type=Path), default=EMBEDDED_DB, show_default=True)
def seed(file: Path, db: Path) -> None:
    """Load projects and blueprints from FILE (the shape of the built-in catalog.yaml)."""
    from pydantic import ValidationError

    from chariot_apply.emulator.catalog import load_catalog
    from chariot_apply.emulator.store import EmulatorError, EmulatorStore

    try:
        catalog = load_catalog(file)
    except (ValidationError, ValueError, OSError) as exc:
        raise UserError(f"{file} is not a catalog: {str(exc).splitlines()[0]}",
                        hint="see chariot_apply/emulator/catalog.yaml for the shape", code=codes.EMULATOR) from None
    store = EmulatorStore(db)
    try:
        added = store.seed(catalog)
    except EmulatorError as exc:
        raise UserError(exc.message, code=codes.EMULATOR) from None
    finally:
        store.close()
    click.echo(f"Seeded {db}: {added['projects']} project(s), {added['blueprints']} blueprint(s) added.")
