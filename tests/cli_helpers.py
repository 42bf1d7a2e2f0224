"""Running the real CLI in-process (click's CliRunner) and reading what it did."""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from chariot_apply.cli.main import cli


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert "Traceback" not in result.stdout + result.stderr
    return Result(result.exit_code, result.stdout, result.stderr)
