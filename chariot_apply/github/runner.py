"""The GitHub Actions runner's files and commands: outputs, step summary, masks, annotations."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from chariot_apply.manifest.errors import ManifestProblem

#: GitHub drops a step summary over 1 MiB (1,048,576 bytes of UTF-8) for the whole step; ours stays under a
#: million, a margin for what GitHub adds around it.
STEP_SUMMARY_LIMIT = 1_000_000
CUT_NOTE = "\n\n_Cut: the step summary is limited to 1 MiB._\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Runner:
    """What a step can tell the runner, through ``env`` (the runner's variables) and ``log`` (stdout)."""

    def __init__(self, env: Mapping[str, str], log: TextIO) -> None:
        self.env = env
        self.log = log

    def mask(self, secret: str | None) -> None:
        if secret:
            for line in secret.splitlines():
                if line.strip():
                    print(f"::add-mask::{line}", file=self.log)

    def warning(self, message: str, where: str | ManifestProblem | None = None, title: str | None = None) -> None:
        self._annotate("warning", message, where, title)

    def error(self, message: str, where: str | ManifestProblem | None = None, title: str | None = None) -> None:
        self._annotate("error", message, where, title)

    def notice(self, message: str, title: str | None = None) -> None:
        self._annotate("notice", message, None, title)

    def _annotate(self, level: str, message: str, where: str | ManifestProblem | None, title: str | None) -> None:
        """``::error file=...,line=...::message``: on the diff line where GitHub can place it (``where`` is a
        manifest problem, or ``file:line:column`` as plans write it, relative to the working directory)."""
        if isinstance(where, ManifestProblem):
            title = title or where.path or "manifest"
            where = str(where.location)
        place = self._place(where) if where else None
        props = ""
        if place is not None:
            file, line, column = place
            props = f" file={_escape_property(file)},line={line}" + (f",col={column}" if column else "")
            props += f",title={_escape_property(title)}" if title else ""
        print(f"::{level}{props}::{_escape_data(message)}", file=self.log)

    def _place(self, where: str) -> tuple[str, int, int | None] | None:
        """(the file relative to the repository, line, column) of ``file:line[:column]``; None: no line in it."""
        parts = where.rsplit(":", 2)
        numbers = [p for p in parts[1:] if p.isdigit()]
        if not numbers:
            return None
        file = ":".join(parts[:len(parts) - len(numbers)])
        workspace = self.env.get("GITHUB_WORKSPACE")
        path = Path(file).absolute()
        if workspace:
            with contextlib.suppress(ValueError):
                path = path.relative_to(Path(workspace).resolve())
        return str(path), int(numbers[0]), int(numbers[1]) if len(numbers) > 1 else None

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return
        with Path(path).open("a", encoding="utf-8") as out:
            for key, value in outputs.items():
                if "\n" in value:
                    delimiter = f"ghadelimiter_{uuid.uuid4()}"
                    out.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
                else:
                    out.write(f"{key}={value}\n")

    def add_summary(self, markdown: str) -> None:
        """Append to the step summary, cut so that the whole of it stays under ``STEP_SUMMARY_LIMIT`` bytes,
        within GitHub's 1 MiB with a margin (a multi-byte character is never split)."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        summary = Path(path)
        used = summary.stat().st_size if summary.exists() else 0
        data = (markdown + "\n").encode()
        room = STEP_SUMMARY_LIMIT - used
        if len(data) > room:
            note = CUT_NOTE.encode()
            if room <= len(note):
                return
            data = data[:room - len(note)].decode("utf-8", errors="ignore").encode() + note
        with summary.open("ab") as out:
            out.write(data)

    def temp_dir(self) -> Path:
        return Path(self.env.get("RUNNER_TEMP") or os.getcwd())
