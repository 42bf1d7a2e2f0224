"""Serving the emulator over real HTTP (uvicorn), in the foreground or on a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class BackgroundServer:
    """Runs an ASGI app on 127.0.0.1 (a free port unless given) until ``stop``; a context manager."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **tls: Any) -> None:
        """``tls``: uvicorn's ``ssl_certfile``, ``ssl_keyfile``, ``ssl_ca_certs``, ``ssl_cert_reqs``."""
        self._socket = listening_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1, date_header=False, **tls)  # the app's clock dates
        self.scheme = "https" if tls.get("ssl_certfile") else "http"
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        daemon=True, name="chariot-emulator")

    @property
    def url(self) -> str:
        return server_url(self.host, self.port, self.scheme)

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound and listening before the server starts: with port 0 its real port is known at once, and
    nothing else can take it between choosing it and serving on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP. Without it, Nagle's
    # algorithm meets the client's delayed ACK and every answer waits for the client's delayed-ACK timer.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    return listener


def serve_forever(app: Any, listener: socket.socket) -> None:
    """Serve on ``listener`` (from ``listening_socket``) until interrupted."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                           date_header=False))  # the app dates its answers by its own clock
    server.run(sockets=[listener])


def server_url(host: str, port: int, scheme: str = "http") -> str:
    """The URL of a server listening on ``host`` (an IPv6 address in brackets) and ``port``."""
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
