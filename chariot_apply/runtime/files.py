"""Writing the files chariot-apply owns (exported manifests, the lock file, the project file): inside the folder
it was given, never through a symbolic link, and whole or not at all. Names that come from a server are input:
they become safe file names, never paths."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 100


def safe_file_name(name: str, suffix: str) -> str:
    """``name`` as one file name: letters, digits, ``.``, ``_`` and ``-`` only, never hidden or ``..``, at most
    ``MAX_STEM`` characters; a name that had to change gets a short hash of itself, so two never meet."""
    stem = _UNSAFE.sub("_", name).strip("._")[:MAX_STEM]
    if stem != name:
        stem = f"{stem or 'unnamed'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return stem + suffix


def write_inside(directory: Path, file_name: str, text: str) -> Path:
    """Write ``directory/file_name``, refusing any name that would lie outside ``directory``."""
    path = directory / file_name
    # The folder it lands in, not the file (``write_file`` refuses a link there rather than follow it).
    if Path(file_name).name != file_name or file_name in ("", ".", "..") or \
            path.parent.resolve() != directory.resolve():
        raise UserError(f"refusing to write {path}: it lies outside {directory}", code=codes.UNSAFE_WRITE)
    write_file(path, text)
    return path


def write_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a reader sees the old file or the new one, never half of it);
    a symbolic link there is refused, not followed, so a link cannot send the write elsewhere."""
    if path.is_symlink():
        raise UserError(f"refusing to write {path}: it is a symlink (to {os.readlink(path)})",
                        hint=f"replace the link with a regular file (rm {path}), then run the command again",
                        code=codes.UNSAFE_WRITE)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
