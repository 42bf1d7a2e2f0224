"""Every command a hint suggests, in one registry: a hint that names a command takes it from here, and a test
(tests/test_hints.py) runs each one against a project of its own, checking that it parses and does what the hint
promises (``shows``: what its output says when it did). A hint can no longer name a flag that does not exist."""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Suggested:
    template: str  # "chariot-apply lock --upgrade {name}"
    shows: str  # a regular expression its output (stdout and stderr) matches when it did what the hint says

    def words(self, **values: str) -> str:
        """The command, filled in (placeholders left as the user's to fill: ``{file}`` -> ``FILE``)."""
        names = {name: values.get(name, name.upper()) for name in _placeholders(self.template)}
        return self.template.format(**names)

    def cited(self, **values: str) -> str:
        """The command as a hint quotes it: in backticks."""
        return f"`{self.words(**values)}`"


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


SUGGESTED: list[Suggested] = []


def _suggest(template: str, shows: str) -> Suggested:
    found = Suggested(template, shows)
    SUGGESTED.append(found)
    return found


PLAN = _suggest("chariot-apply plan", r"Plan: \d+ to create")
PLAN_OUT = _suggest("chariot-apply plan --out {file}", r"Saved the plan to")
PLAN_DETAILED_EXITCODE = _suggest("chariot-apply plan --detailed-exitcode", r"Plan: \d+ to create")
APPLY = _suggest("chariot-apply apply", r"Apply complete|refusing to apply without confirmation|No changes")
VALIDATE = _suggest("chariot-apply validate", r"manifest\(s\) valid")
STATUS = _suggest("chariot-apply status", r"vision/\S+@\S+")
EVENTS = _suggest("chariot-apply events {address}", r"run_created")
LOCK = _suggest("chariot-apply lock", r"chariot-apply\.lock")
LOCK_UPGRADE = _suggest("chariot-apply lock --upgrade {name}", r"chariot-apply\.lock")
EXPLAIN = _suggest("chariot-apply explain {code}", r"^CA\d{4}: .+\n\n")
EXPLAIN_LIST = _suggest("chariot-apply explain --list", r"CA1001  invalid YAML")
ADOPT = _suggest("chariot-apply adopt {address}", r"[Aa]dopted")
EXPORT = _suggest("chariot-apply export --project {project} -o {directory}", r"Wrote \S+\.yaml")
