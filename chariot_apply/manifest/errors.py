"""Problems found in manifests, each with where it is (file:line:column) and the field path."""

from __future__ import annotations

from dataclasses import dataclass, field

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"


@dataclass(frozen=True, order=True)
class ManifestProblem:
    location: Location
    path: str
    message: str
    hint: str | None = None
    code: str = field(kw_only=True)  # diagnostics.codes: every problem has one

    def __str__(self) -> str:
        where = f"{self.location}: " + (f"{self.path}: " if self.path else "")
        return where + self.message + (f" ({self.hint})" if self.hint else "") + f" [{self.code}]"


class ManifestError(UserError):
    """Every problem in every manifest, raised together."""

    hint = "fix the manifests listed above and run the command again"
    code = codes.INVALID_VALUE  # an instance: the code of its first problem

    def __init__(self, problems: list[ManifestProblem], what: str = "the manifests") -> None:
        self.problems = sorted(problems)
        super().__init__(f"{len(self.problems)} problem(s) in {what}:", details=tuple(map(str, self.problems)),
                         code=self.problems[0].code if self.problems else None)
        if what != "the manifests":
            self.hint = f"fix {what} as listed above and run the command again"
