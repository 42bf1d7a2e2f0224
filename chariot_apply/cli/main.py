"""The ``chariot-apply`` command: the root group and where each command lives.

Commands load when they run (click's ``LazyGroup`` pattern): ``--help`` lists them from this registry without
importing any of them, so it starts without the HTTP client, the planner or the emulator, and each command
module imports what it uses at its top."""

from __future__ import annotations

import importlib

import click

from chariot_apply import __version__
from chariot_apply.cli.common import global_options, with_options
from chariot_apply.cli.errors import ChariotApplyGroup

#: name -> (module:attribute, the one-line help ``--help`` lists: the first paragraph of the command's own help, word
#: for word, as ``tests/test_cli_habits.py`` checks)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("chariot_apply.cli.manifests:validate",
                 "Check manifests (schema, quantities, duplicates); --online validates configs against blueprints "
                 "too."),
    "render": ("chariot_apply.cli.manifests:render", "Print the fully expanded TrainingRun documents (variables, "
                                                     "defaults and sweeps applied) as YAML."),
    "lock": ("chariot_apply.cli.manifests:lock", "Resolve the manifests' blueprints into chariot-apply.lock (commit "
                                                 "it); --upgrade [NAME ...] moves them."),
    "plan": ("chariot_apply.cli.plan:plan", "Show what apply would do."),
    "apply": ("chariot_apply.cli.apply:apply", "Make Chariot match the manifests (or carry out a saved PLAN_FILE "
                                              "exactly)."),
    "reconcile": ("chariot_apply.cli.reconcile:reconcile", "Carry out only the lifecycle actions the manifests' rules "
                                                          "call for now; report declared drift."),
    "report": ("chariot_apply.cli.report:report", "Results of the declared runs: leaderboards, curves, promotions, "
                                                  "failures."),
    "status": ("chariot_apply.cli.status:status", "Runs we own in the projects of the manifests: status, progress, "
                                                  "age, last event, latest metrics."),
    "events": ("chariot_apply.cli.status:events", "The events of the run at ADDRESS (project/name@version), in "
                                                  "sequence order."),
    "metrics": ("chariot_apply.cli.status:metrics", "The metrics of the run at ADDRESS (project/name@version)."),
    "adopt": ("chariot_apply.cli.adoption:adopt", "Take ownership of the existing run at ADDRESS "
                                                  "(project/name@version), recorded in the project file."),
    "export": ("chariot_apply.cli.adoption:export", "Write manifests for live runs."),
    "import": ("chariot_apply.cli.adoption:import_", "Export, and adopt the runs chariot-apply does not own yet "
                                                     "(recorded in the project file)."),
    "doctor": ("chariot_apply.cli.doctor:doctor", "Check, read-only, that the configured Chariot answers every "
                                                  "operation chariot-apply uses as modelled."),
    "explain": ("chariot_apply.cli.explain:explain", "Explain an error code (CA1203): why it is an error, and the "
                                                     "fix; --list lists them all."),
    "completion": ("chariot_apply.cli.completion:completion", "Print the shell completion script."),
    "emulator": ("chariot_apply.cli.emulator:emulator", "Run or seed the local Chariot emulator."),
    "github": ("chariot_apply.cli.github:github", "GitHub Actions integration: the action's step, the pull-request "
                                                  "comment, the drift check."),
}


class LazyGroup(ChariotApplyGroup):
    """Imports a command's module only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        found: click.Command = getattr(importlib.import_module(module), attribute)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chariot-apply")
@with_options(global_options)
def cli() -> None:
    """Declare Chariot training runs in YAML; plan the difference; apply it idempotently."""


def main() -> None:
    cli(prog_name="chariot-apply")


if __name__ == "__main__":
    main()
