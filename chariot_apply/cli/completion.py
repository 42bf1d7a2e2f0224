"""``chariot-apply completion SHELL``: the shell completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script.

    eval "$(chariot-apply completion bash)" (or zsh, fish)."""
    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    root = ctx.find_root().command
    click.echo(completer(root, {}, "chariot-apply", "_CHARIOT_APPLY_COMPLETE").source())
