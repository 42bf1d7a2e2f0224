"""Every command has an overall deadline on top of the per-read timeout (issue 18): a server that trickles its
answer a byte at a time never goes silent long enough for a read timeout, and must still not hold a plan."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.factories import manifest, write_manifests


@pytest.fixture
def trickling() -> Iterator[str]:
    """A server that answers every request with a body that comes one byte every 0.1 s, for ever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    connection.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.1)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def test_a_trickling_server_cannot_hold_a_plan(trickling: str, workdir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARIOT_URL", trickling)
    monkeypatch.setenv("CHARIOT_TIMEOUT", "1")  # each silence is far shorter than this: the read never times out
    write_manifests(workdir / "runs" / "runs.yaml", manifest("a"))
    started = time.monotonic()
    result = run_cli("--deadline", "2s", "plan")
    assert result.exit_code == 1, result.output
    assert "did not finish within 2s" in result.stderr and "--deadline" in result.stderr
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 30  # ended by the deadline, not by the trickle (which never ends)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "1e400", "9" * 5000, "1000h", "soon"])
@pytest.mark.parametrize("option", [("--deadline", "plan"), ("apply", "--wait", "--timeout")])
def test_a_duration_that_is_no_duration_is_refused(option: tuple[str, ...], value: str, workdir: Path) -> None:
    *before, flag = option
    result = run_cli(*before, f"{flag}={value}")
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.stderr and "Traceback" not in result.output
