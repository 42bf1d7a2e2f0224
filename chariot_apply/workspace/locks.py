"""One writer at a time per Chariot and owner on this machine, whichever checkout it runs in: an advisory lock file
outside every checkout (``CHARIOT_APPLY_LOCK_DIR``, else ``$XDG_RUNTIME_DIR/chariot-apply``, else
``~/.cache/chariot-apply``), named by a hash of the server and the owner. Every write path holds it (apply, and
reconcile with its promotions and retention), so that two writers never plan the same lifecycle action side by side:
the second plans after the first has written, and sees it. A model made twice can never be deleted through the SDK.

Across machines (two runners) the Action keeps writers apart through GitHub (``github/writers.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

LOCK_DIR_VARIABLE = "CHARIOT_APPLY_LOCK_DIR"
#: How often a waiting writer looks again.
POLL_SECONDS = 0.2


class Busy(Exception):
    """Another process holds the lock; ``holder`` says which (as it wrote itself into the file)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def lock_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(LOCK_DIR_VARIABLE):
        return Path(env[LOCK_DIR_VARIABLE])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "chariot-apply"
    return Path.home() / ".cache" / "chariot-apply"


class WriterLock:
    """The writers' lock of one Chariot and owner. Held again by its own holder, it is not taken twice (a reconcile
    applies under the lock it planned under); a second ``WriterLock`` on the same file, in this process or another,
    waits or is refused."""

    def __init__(self, server: str, owner: str, env: Mapping[str, str] | None = None) -> None:
        digest = hashlib.sha256(f"{server}\0{owner}".encode()).hexdigest()[:24]
        self.path = lock_dir(env) / f"writer-{digest}.lock"
        self.what = f"{server} as owner {owner}"
        self._fd: int | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or already ours); False: another writer holds it."""
        if self._fd is not None:
            self._depth += 1
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:4]))
        os.write(fd, f"pid {os.getpid()}, `{command}` in {os.getcwd()}, since "
                     f"{datetime.now(UTC).strftime('%H:%M:%S UTC')}\n".encode())
        self._fd, self._depth = fd, 1
        return True

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it (empty: unknown)."""
        with contextlib.suppress(OSError):
            return self.path.read_text("utf-8").strip()
        return ""

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def hold(self, wait: float = 0.0, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lock for the block, waiting up to ``wait`` seconds for another writer (``on_wait`` is told who,
        once); ``Busy`` once that is over."""
        deadline = time.monotonic() + wait
        told = False
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise Busy(self.holder())
            if on_wait is not None and not told:
                on_wait(self.holder())
                told = True
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            self.release()

    @contextlib.asynccontextmanager
    async def hold_async(self, wait: float | None = None) -> AsyncIterator[None]:
        """``hold`` for a coroutine: it waits without blocking the event loop (``None``: as long as it takes, within
        the caller's own deadline)."""
        deadline = None if wait is None else time.monotonic() + wait
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                raise Busy(self.holder())
            await asyncio.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            self.release()
