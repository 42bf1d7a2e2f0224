"""What every command shares: the global options, the project workspace, and running the library's coroutines."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.manifest.duration import parse_duration_text
from chariot_apply.manifest.file_names import PROJECT_FILE

if TYPE_CHECKING:
    from chariot_apply.workspace.connection import BackendChoice
    from chariot_apply.workspace.project import Workspace

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class DeadlineExceeded(UserError):
    """The command's overall deadline (``--deadline``) passed."""

    code = codes.DEADLINE


def run(awaitable: Coroutine[Any, Any, T], *, bulk_heap: bool = False, watching: bool = False) -> T:
    """``asyncio.run`` for a command (``asyncrun.run``: ``bulk_heap`` for one that builds a plan), within what is
    left of the command's deadline. ``watching`` (``--watch``, ``--follow``): bounded only by a deadline given."""
    from chariot_apply.runtime.asyncrun import run as run_async

    limit, remaining = _remaining(watching)
    try:
        return run_async(awaitable, bulk_heap=bulk_heap, timeout=remaining)
    except TimeoutError:
        awaitable.close()
        raise DeadlineExceeded(f"gave up: the command did not finish within {limit} "
                               "(its deadline)", hint="a slow or stuck server: check it, or allow more time "
                                                      "with --deadline (e.g. --deadline 2h)") from None


def _remaining(watching: bool = False) -> tuple[str | None, float | None]:
    """(the command's deadline as given, the seconds left of it; None: no deadline)."""
    ctx = click.get_current_context(silent=True)
    g = ctx.ensure_object(Globals) if ctx is not None else Globals()
    limit = g.deadline or (None if watching else DEFAULT_DEADLINE)
    return limit, None if limit is None else max(0.0, g.started + parse_duration(limit) - time.monotonic())


def hold_the_writers_lock(ctx: click.Context, ws: Workspace) -> None:
    """The rest of the command holds the writers' lock of its Chariot and owner (``workspace.locks``): it plans after
    any other writer on this machine has written. Another writer's turn is waited for within the deadline, saying
    whose it is."""
    from chariot_apply.workspace.locks import Busy

    limit, remaining = _remaining()

    def say(holder: str) -> None:
        who = holder or "it did not say who it is"
        click.echo(f"chariot-apply: waiting for another writer to {ws.writer.what} to finish ({who}).", err=True)

    try:
        ctx.with_resource(ws.writer.hold(wait=remaining or 0.0, on_wait=say))
    except Busy as exc:
        raise DeadlineExceeded(f"gave up: another writer to {ws.writer.what} held the writers' lock past the "
                               f"deadline ({limit}): {exc.holder}", hint="let it finish, or allow more time with "
                               "--deadline") from None


#: Every command ends by then (``--deadline``): generous for a plan of many thousands of runs on a slow server.
DEFAULT_DEADLINE = "1h"
#: The longest duration taken anywhere (a week): past that, a typo.
MAX_DURATION_SECONDS = 7 * 24 * 3600.0


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``1h30m``: a duration in seconds, more than zero and at most a week."""
    try:
        value = parse_duration_text(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if value > MAX_DURATION_SECONDS:
        raise click.BadParameter(f"{text!r} is more than a week: give at most 168h")
    return value


def duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


def _remember_duration(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    _remember(ctx, param, duration_option(ctx, param, value))


@dataclass
class Globals:
    """Options every command takes, before or after its name (``chariot-apply plan --no-color``)."""

    config: Path | None = None
    owner: str | None = None
    project: str | None = None
    chariot_url: str | None = None
    backend: str | None = None
    no_color: bool = False
    var: tuple[str, ...] = ()
    deadline: str | None = None
    started: float = field(default_factory=time.monotonic)  # the command's deadline counts from here

    @property
    def color(self) -> bool:
        return not self.no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()  # no-color.org: non-empty

    def project_file(self) -> Path:
        """The project file a command edits (``adopt``, ``import``): --config, else the nearest upwards."""
        from chariot_apply.manifest.project_file import find_project_file

        return self.config or find_project_file(Path.cwd()) or Path(PROJECT_FILE)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and value is not False and value != () and param.name:
        setattr(ctx.ensure_object(Globals), param.name, value)


def global_settings(ctx: click.Context) -> Globals:
    return ctx.ensure_object(Globals)


def with_options(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


project_option = click.option("--project", callback=_remember, expose_value=False,
                              help="Default project for manifests that name none [env CHARIOT_APPLY_PROJECT].")
global_options: list[Callable[[F], F]] = [
    click.option("--config", type=click.Path(path_type=Path, dir_okay=False), callback=_remember,
                 expose_value=False, help=f"Project file (default: the nearest {PROJECT_FILE} upwards)."),
    click.option("--owner", callback=_remember, expose_value=False,
                 help="Owner id written into the runs we create [env CHARIOT_APPLY_OWNER]."),
    project_option,
    click.option("--chariot-url", callback=_remember, expose_value=False,
                 help="Chariot root URL [env CHARIOT_URL]; unset: the embedded emulator."),
    click.option("--backend", type=click.Choice(["auto", "sdk", "rest"]), callback=_remember, expose_value=False,
                 help="How to reach Chariot: the official SDK, our REST client, or auto (the SDK where it is "
                      "installed and no CHARIOT_URL is named) [env CHARIOT_APPLY_BACKEND]."),
    click.option("--no-color", is_flag=True, callback=_remember, expose_value=False,
                 help="No colour (also: NO_COLOR set, or not a terminal)."),
    click.option("--deadline", callback=_remember_duration, expose_value=False, metavar="DURATION",
                 envvar="CHARIOT_APPLY_DEADLINE",
                 help=f"The whole command ends by then, whatever the server does (90s, 15m, 2h; default "
                      f"{DEFAULT_DEADLINE}; --watch/--follow: none) [env CHARIOT_APPLY_DEADLINE]."),
    click.option("--var", multiple=True, callback=_remember, expose_value=False, metavar="NAME=VALUE",
                 help="A value for ${NAME} in manifests (before the environment and `vars:`); repeatable."),
]


def command(name: str | None = None, *, own_project: bool = False) -> Callable[[Callable[..., Any]], click.Command]:
    """``click.command`` with the global options, so that they work after the command's name too (but for
    ``--project`` where the command has its own)."""
    options = [o for o in global_options if not own_project or o is not project_option]

    def decorate(f: Callable[..., Any]) -> click.Command:
        return click.command(name)(with_options(options)(f))
    return decorate


def variables(given: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UserError(f"--var {item!r} is not NAME=VALUE", hint="for example --var EPOCHS=30", code=codes.USAGE)
        values[name] = value
    return values


def open_workspace(ctx: click.Context, files: Sequence[str], quiet: bool = False,
                   need_manifests: bool = True) -> Workspace:
    """The command's workspace; its one Chariot client is closed when the command ends."""
    from chariot_apply.workspace.project import open_workspace as open_

    g = global_settings(ctx)
    ws = open_(files, config=g.config, owner=g.owner, project=g.project, chariot_url=g.chariot_url,
               need_manifests=need_manifests, variables=variables(g.var),
               backend=cast("BackendChoice | None", g.backend))
    ctx.call_on_close(lambda: run(ws.close()))
    if not quiet:
        for notice in ws.notices:
            click.echo(notice, err=True)
    return ws


files_option = click.option("-f", "--filename", "files", multiple=True,
                            help="Manifest file, directory (recursive) or glob; '-' reads standard input. "
                                 "Repeatable.")
def complete_address(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion: the addresses the project's manifests declare (read offline, no server asked; a
    project that does not load completes nothing rather than printing an error into the shell)."""
    try:
        from chariot_apply.workspace.project import open_workspace as open_

        g = global_settings(ctx)
        runs = open_(config=g.config, owner=g.owner, project=g.project, need_manifests=False).manifests()
    except Exception:
        return []
    addresses = sorted({f"{r.project}/{r.name}@{r.version}" for r in runs})
    return [a for a in addresses if a.startswith(incomplete)]


selection_options: list[Callable[[F], F]] = [
    click.option("--prune", is_flag=True, help="Delete runs we own that no manifest declares."),
    click.option("--allow-replace", is_flag=True, help="Replace (delete, then create) runs that changed."),
    click.option("--target", multiple=True, shell_complete=complete_address,
                 help="Only these addresses (project/name@version, globs)."),
    click.option("--exclude", multiple=True, shell_complete=complete_address, help="Not these addresses (globs)."),
    click.option("--strict-config", is_flag=True, help="A config key the blueprint's schema does not name is an "
                                                       "error, not a warning (also: strictConfig: true in the "
                                                       "project file)."),
    click.option("--allow-protected", is_flag=True, help="Let runs declared with protect: true be stopped, deleted "
                                                         "or replaced."),
]
interval_option = click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.05, 3600),
                               help="Seconds between looks.")
locked_option = click.option("--locked", is_flag=True,
                             help="Fail if chariot-apply.lock is missing or does not cover a manifest (for CI).")
