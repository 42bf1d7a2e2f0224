"""``chariot-apply explain CODE``: the long form of an error code (``diagnostics.codes``), as ``rustc --explain``."""

from __future__ import annotations

import click

from chariot_apply.cli.common import command
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.diagnostics.suggest import did_you_mean


@command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every code with its title.")
def explain(code: str | None, list_all: bool) -> None:
    """Explain an error code (CA1203): why it is an error, and the fix; --list lists them all."""
    if list_all or code is None:
        for each in codes.CODES.values():
            click.echo(f"{each.id}  {each.title}")
        return
    found = codes.explain(code)
    if found is None:
        raise UserError(f"no error code {code!r}", code=codes.USAGE,
                        hint=f"{did_you_mean(code.upper(), codes.CODES)} ({hints.EXPLAIN_LIST.cited()} lists them)")
    click.echo(found.long_form, nl=False)
