"""The one exit path: a ``UserError`` becomes its message, details and hint; anything else is a bug, said so."""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError, os_words

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


def show_error(exc: UserError) -> None:
    """``Error[CODE]: message``, the lines that say where (a manifest's problems with their code frames), the
    hint, and where the long form of the code is."""
    click.secho(f"Error[{exc.code}]: {exc}" if exc.code else f"Error: {exc}", err=True, fg="red")
    for line in _where(exc):
        click.echo(f"  {line}", err=True)
    if exc.hint:
        click.echo(f"Hint: {exc.hint}", err=True)
    if exc.code:
        click.echo(f"Explain: {hints.EXPLAIN.words(code=exc.code)}", err=True)


def _where(exc: UserError) -> list[str]:
    from chariot_apply.manifest.errors import ManifestError

    if not isinstance(exc, ManifestError):
        return list(exc.details)
    from chariot_apply.render.diagnostics import from_manifest_problems, render_terminal

    return render_terminal(from_manifest_problems(exc.problems), source_lines())


def source_lines() -> Callable[[str], list[str] | None]:
    """A reader of the files problems are in, each read once (None: it cannot be read, so no frame)."""
    read: dict[str, list[str] | None] = {}

    def lines(file: str) -> list[str] | None:
        if file not in read:
            try:
                read[file] = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                read[file] = None
        return read[file]

    return lines


def show_bug(exc: BaseException) -> None:
    """An exception nobody expected: the user gets one line and a file to attach to a bug report."""
    with tempfile.NamedTemporaryFile("w", prefix="chariot-apply-crash-", suffix=".txt", delete=False) as report:
        report.write("".join(traceback.format_exception(exc)))
    click.secho(f"Error: chariot-apply failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug in "
                "chariot-apply, not in your input.", err=True, fg="red")
    click.echo(f"Hint: please report it with the traceback saved in {report.name}", err=True)


#: Flags that change or delete runs: never offered as the "did you mean" of a flag the user typed.
DESTRUCTIVE_FLAGS = frozenset({"--prune", "--allow-replace", "--auto-approve"})
#: Flags of other tools a user reaches for, and what does that here.
SAFE_INSTEAD = {
    "--dry-run": f"chariot-apply has no --dry-run: {hints.PLAN.cited()} shows what apply would do, changing nothing",
    "--check": f"{hints.PLAN_DETAILED_EXITCODE.cited()} exits 2 when there are changes, changing nothing",
    "--diff": f"{hints.PLAN.cited()} shows the difference",
}


#: What other tools call the output format (kubectl -o json, terraform -json is not a flag here).
OUTPUT_HABITS = frozenset({"-o", "--output", "--json", "--out-format"})


def _takes(command: click.Command, flag: str) -> bool:
    return any(flag in getattr(p, "opts", ()) for p in command.params)


def safer_suggestion(exc: click.NoSuchOption) -> click.NoSuchOption:
    """``exc`` with no destructive flag among its suggestions, and the safe command for a well-known flag."""
    instead = {k.replace("-", ""): v for k, v in SAFE_INSTEAD.items()}.get(exc.option_name.replace("-", "").replace(
        "_", ""))
    if instead is not None:
        return click.NoSuchOption(exc.option_name, message=f"No such option: {exc.option_name}. {instead}.",
                                  ctx=exc.ctx)
    if exc.option_name in OUTPUT_HABITS and exc.ctx is not None and _takes(exc.ctx.command, "--format"):
        return click.NoSuchOption(exc.option_name, message=f"No such option: {exc.option_name}. Did you mean "
                                  "--format? (kubectl's and terraform's -o is --format here)", ctx=exc.ctx)
    # A destructive flag is offered only for what is plainly a typo of it (--prun), never for another word.
    safe = [p for p in exc.possibilities or () if p not in DESTRUCTIVE_FLAGS
            or difflib.SequenceMatcher(None, exc.option_name, p).ratio() >= 0.85]
    return click.NoSuchOption(exc.option_name, possibilities=safe or None, ctx=exc.ctx)


class ChariotApplyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            raise safer_suggestion(exc) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except UserError as exc:
            show_error(exc)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.secho("Interrupted.", err=True, fg="red")
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # `chariot-apply ... | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            ctx.exit(EXIT_OK)
        except OSError as exc:  # a file that cannot be read or written, a full disk: the user's to fix
            show_error(UserError(os_words(exc), code=codes.FILE_SYSTEM))
            ctx.exit(EXIT_ERROR)
        except Exception as exc:
            show_bug(exc)
            ctx.exit(EXIT_BUG)
