"""The one exit path: a ``UserError`` becomes its message, details and hint; anything else is a bug, said so."""

from __future__ import annotations

import tempfile
import traceback
from typing import Any

import click

from chariot_apply.errors import UserError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


def show_error(exc: UserError) -> None:
    click.secho(f"Error: {exc}", err=True, fg="red")
    for line in exc.details:
        click.echo(f"  {line}", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)


def show_bug(exc: BaseException) -> None:
    """An exception nobody expected: the user gets one line and a file to attach to a bug report."""
    with tempfile.NamedTemporaryFile("w", prefix="chariot-apply-crash-", suffix=".txt", delete=False) as report:
        report.write("".join(traceback.format_exception(exc)))
    click.secho(f"Error: chariot-apply failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug in "
                "chariot-apply, not in your input.", err=True, fg="red")
    click.echo(f"Hint: please report it with the traceback saved in {report.name}", err=True)


class ChariotApplyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except UserError as exc:
            show_error(exc)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.secho("Interrupted.", err=True, fg="red")
            ctx.exit(EXIT_INTERRUPTED)
        except OSError as exc:  # a file that cannot be read or written, a full disk: the user's to fix
            show_error(UserError(str(exc)))
            ctx.exit(EXIT_ERROR)
        except Exception as exc:
            show_bug(exc)
            ctx.exit(EXIT_BUG)
