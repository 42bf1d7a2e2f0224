"""``chariot-apply.lock``: which blueprint each (name, version pattern) resolved to, committed beside the
project file, so that a floating pattern (``2.%``) never moves a run to a newer blueprint by itself.
Like ``uv.lock`` or ``.terraform.lock.hcl``: plans use the locked id; ``chariot-apply lock --upgrade`` moves it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError, plain_message
from chariot_apply.runtime.files import write_file

Key = tuple[str, str | None]  # (blueprint name, version pattern)
HEADER = ("# chariot-apply.lock: the blueprint each (name, version pattern) of the manifests resolved to.\n"
          "# Written by chariot-apply; commit it. Move it with `" + hints.LOCK_UPGRADE.words() + "`.\n")


class LockedBlueprint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    pattern: str | None = None
    id: str
    version: str
    #: Config paths the blueprint's schema marks write-only (its secrets): so that `render`, offline, redacts them.
    secret: tuple[str, ...] = ()

    @property
    def key(self) -> Key:
        return self.name, self.pattern


class LockFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1] = 1
    blueprints: tuple[LockedBlueprint, ...] = ()

    def ids(self) -> dict[Key, str]:
        return {b.key: b.id for b in self.blueprints}

    def secrets(self) -> dict[Key, tuple[str, ...]]:
        return {b.key: b.secret for b in self.blueprints if b.secret}

    def with_entries(self, entries: Iterable[LockedBlueprint]) -> LockFile:
        """This lock with ``entries`` added or replacing the ones of the same key, in a stable order."""
        merged = {b.key: b for b in self.blueprints} | {b.key: b for b in entries}
        ordered = sorted(merged.values(), key=lambda b: (b.name, b.pattern or ""))
        return LockFile(blueprints=tuple(ordered))


#: A lock file names a few blueprints; anything near this size is not one.
MAX_LOCK_BYTES = 1 << 20


def read_lock(path: Path) -> LockFile | None:
    """The lock file at ``path`` (``None`` where there is none), read defensively: whatever is there (garbage
    bytes, deep nesting, a huge file) is a clear error, never a crash."""
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_LOCK_BYTES:
            raise ValueError(f"it is {path.stat().st_size:,} bytes, more than a lock file ever is")
        return LockFile.model_validate(yaml.safe_load(path.read_bytes().decode("utf-8")) or {})
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            detail = plain_message(exc.errors()[0])
        elif isinstance(exc, UnicodeDecodeError):
            detail = f"it is not UTF-8 text (byte {exc.start})"
        elif isinstance(exc, RecursionError):
            detail = "it is nested too deeply"
        else:
            detail = str(exc).splitlines()[0]
        raise UserError(f"{path} is not a chariot-apply lock file: {detail}",
                        hint=f"restore it from git, or delete it and run {hints.LOCK.cited()}",
                        code=codes.LOCK_FILE) from None


def write_lock(path: Path, lock: LockFile) -> None:
    data = lock.model_dump(mode="json")
    write_file(path, HEADER + yaml.safe_dump(data, sort_keys=False))


def uncovered(lock: LockFile | None, keys: Iterable[Key]) -> list[Key]:
    have: Mapping[Key, str] = lock.ids() if lock else {}
    return sorted({k for k in keys if k not in have}, key=lambda k: (k[0], k[1] or ""))
