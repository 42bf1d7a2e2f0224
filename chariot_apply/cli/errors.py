"""The one exit path: every known failure becomes a message, a hint and an exit code; never a traceback."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError as PydanticValidationError

from chariot_apply.chariot.errors import ChariotError
from chariot_apply.manifest.errors import ManifestError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """Something the user must change; carries what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _fail(message: str, hint: str | None) -> None:
    click.secho(f"Error: {message}", err=True, fg="red")
    if hint:
        click.echo(f"Hint: {hint}", err=True)


class ChariotApplyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ManifestError as exc:
            click.secho(f"Error: {len(exc.problems)} problem(s) in the manifests:", err=True, fg="red")
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            click.echo(f"Hint: {exc.hint}", err=True)
        except ChariotError as exc:
            _fail(str(exc), exc.hint)
        except UserError as exc:
            _fail(str(exc), exc.hint)
        except PydanticValidationError as exc:
            _fail("invalid configuration: " + "; ".join(e["msg"] for e in exc.errors()),
                  "check the CHARIOT_* environment variables and chariot-apply.yaml")
        except OSError as exc:
            _fail(str(exc), None)
        ctx.exit(EXIT_ERROR)
