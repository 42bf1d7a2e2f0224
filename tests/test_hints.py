"""Issue 37: every hint is executed. The commands hints suggest come from one registry (diagnostics/hints.py); each
is run here against a project of its own, as a user would type it, and must parse and do what the hint says. A
command named in any other text of the package (an error code's long form) must at least parse."""

from __future__ import annotations

import ast
import contextlib
import re
import shlex
from pathlib import Path

import click
import pytest

from chariot_apply.cli.main import cli
from chariot_apply.diagnostics import codes, hints
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import CLASSIFIER, create_directly, manifest, write_manifests

PACKAGE = Path(__file__).resolve().parents[1] / "chariot_apply"


@pytest.fixture
def project(workdir: Path, server: BackgroundServer) -> dict[str, str]:
    """A project with one applied run and one run of no one's at another address: what hints speak of."""
    write_manifests(workdir / "runs" / "a.yaml", manifest("alpha"), manifest("beta"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(workdir / "runs" / "a.yaml", manifest("alpha"), manifest("beta"), manifest("gamma"))
    create_directly(server, "stray")
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    return {"file": "plan.json", "name": CLASSIFIER, "code": codes.NOT_A_QUANTITY, "project": "vision",
            "directory": str(workdir / "exported")}


def _filled(suggested: hints.Suggested, values: dict[str, str]) -> list[str]:
    address = "vision/stray@1.0.0" if suggested is hints.ADOPT else "vision/alpha@1.0.0"
    return shlex.split(suggested.words(**values, address=address))


@pytest.mark.parametrize("suggested", hints.SUGGESTED, ids=lambda s: s.template)
def test_every_suggested_command_runs_and_does_what_its_hint_says(project: dict[str, str],
                                                                  suggested: hints.Suggested) -> None:
    words = _filled(suggested, project)
    assert words[0] == "chariot-apply"
    result = run_cli(*words[1:])
    assert result.exit_code in (0, 1, 2) and "No such option" not in result.output, result.output
    assert "Usage:" not in result.stderr and "No such command" not in result.output, result.output
    assert re.search(suggested.shows, result.output, re.M), (suggested.template, result.output)


def _strings() -> list[tuple[Path, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((path, node.value))
    return found


def test_no_hint_names_a_command_outside_the_registry() -> None:
    """Docstrings quote commands in double backticks; a hint, in single ones: those come from the registry."""
    cited = re.compile(r"(?<!`)`chariot-apply [^`]+`(?!`)")
    loose = [f"{path.relative_to(PACKAGE)}: {m}" for path, text in _strings()
             if path.name not in ("hints.py", "codes.py") for m in cited.findall(text)]
    assert loose == []


def _parses(words: list[str]) -> None:
    context = cli.make_context("chariot-apply", list(words[1:2]), resilient_parsing=False)
    command = cli.get_command(context, words[1])
    assert command is not None, words
    if isinstance(command, click.Group) and len(words) > 2:
        command = command.get_command(context, words[2]) or command
        words = words[1:]
    with contextlib.suppress(click.exceptions.Exit):  # --help: it parsed, and printed the help
        command.make_context(words[1], list(words[2:]), parent=context)


def test_every_command_an_error_code_explains_parses() -> None:
    samples = {"NAME": CLASSIFIER, "FILE": "plan.json", "CODE": "CA1203", "ADDRESS": "vision/a@1", "COMMAND": "plan"}
    commands = [m for code in codes.CODES.values() for m in re.findall(r"`(chariot-apply [^`]+)`", code.explanation)]
    assert len(commands) >= 5
    for command in commands:
        words = [samples.get(w, w) for w in shlex.split(command)]
        _parses(words)


def test_the_registry_is_what_hints_say() -> None:
    """The hint that named a flag that does not exist (`status --all`) now lists runs that do."""
    assert hints.LOCK_UPGRADE.cited(name="image-classifier") == "`chariot-apply lock --upgrade image-classifier`"
    assert hints.PLAN_OUT.words() == "chariot-apply plan --out FILE"
    assert not any("--all" in s.template for s in hints.SUGGESTED)


def test_an_import_that_matches_nothing_lists_what_the_project_has(project: dict[str, str], workdir: Path) -> None:
    result = run_cli("import", "--project", "vision", "--name-ilike", "nomatch%", "-o", "runs/imported")
    assert result.exit_code == 1 and "stray@1.0.0" in result.stderr, result.output
    suggested = re.search(r"`(chariot-apply export [^`]+)`", result.stderr)
    assert suggested is not None
    follow = run_cli(*shlex.split(suggested[1])[1:])  # as cited: the user names the directory
    assert follow.exit_code == 0 and "stray" in (workdir / "DIRECTORY" / "vision.yaml").read_text(), follow.output
