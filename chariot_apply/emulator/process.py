"""The emulator in a process of its own, as a real Chariot is on a machine of its own: for the bench, and for
tests that kill servers or clients mid-way."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ANNOUNCED = re.compile(r"CHARIOT_URL=(\S+)")


class EmulatorProcess:
    """``chariot-apply emulator serve`` on ``port`` (0: a free one, chosen by the server itself, so that no other
    process can take it between choosing and serving); ``url`` is what it announced. A context manager."""

    def __init__(self, db: Path, *options: str, port: int = 0, start_within: float = 30.0) -> None:
        self.db, self.options, self.port, self.start_within = db, options, port, start_within
        self.log = db.with_name(db.name + ".serve.log")
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> EmulatorProcess:
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "chariot_apply.cli.main", "emulator", "serve", "--port", str(self.port),
                 "--db", str(self.db), *self.options], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + self.start_within
        while not (found := ANNOUNCED.search(self.log.read_text(errors="replace"))):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.02)
        self.url = found.group(1)  # announced once its socket listens: connections wait in its backlog
        return self

    def cpu_seconds(self) -> float:
        """The server's CPU time so far, user and system (from /proc; NaN where there is none)."""
        stat = Path(f"/proc/{self._process.pid}/stat") if self._process is not None else None
        if stat is None or not stat.exists():
            return math.nan
        fields = stat.read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """End the server (``SIGKILL``: with no clean shutdown) and wait for it."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(sig)
            self._process.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
