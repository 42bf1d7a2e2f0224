"""Deliberate misbehaviour for tests and benchmarks: latency, error answers, dropped connections, and the
timeouts a real network has.

A drop is real on a socket (headers and part of the body are sent, then the
connection is cut) and, in process, ``EmulatorTransport`` turns it into the same
``httpx.RemoteProtocolError`` a client would see over the network.

The timeout kinds hold a request for ``hang_seconds`` (set it above the client's timeout):

- ``hang``: nothing happens, then the connection is cut;
- ``commit-late``: a write is carried out only after the wait (a slow server: the client has given up);
- ``commit-then-hang``: a write is carried out at once, its answer withheld, then the connection is cut;
- ``commit-then-502``: a write is carried out, and a gateway answers 502 in its place.

The ``commit-*`` kinds apply to writes; a read drawn for one is a ``hang``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

FaultKind = Literal["500", "502", "503", "504", "429", "drop", "commit-then-drop", "hang", "commit-late",
                   "commit-then-hang", "commit-then-502"]
#: Every kind, for a soak that wants them all.
TIMEOUT_KINDS: tuple[FaultKind, ...] = ("hang", "commit-late", "commit-then-hang", "commit-then-502")
WRITE_METHODS = frozenset({"POST", "DELETE", "PUT", "PATCH"})


class ConnectionDropped(Exception):
    """Raised by the fault injector after cutting a response short."""


@dataclass
class ScriptedFault:
    """Happens once, to the first request matching ``method`` whose path ends with ``path`` (``None``: any)."""

    kind: FaultKind
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.endswith(self.path))


@dataclass
class Faults:
    latency_seconds: float = 0.0
    failure_rate: float = 0.0
    failure_kinds: tuple[FaultKind, ...] = ("500", "503", "429", "drop")
    commit_then_drop_rate: float = 0.0
    hang_seconds: float = 1.0
    scripted: list[ScriptedFault] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    injected: int = 0
    #: The latest requests' method and path, in the order they came (tests count the writes two writers send).
    seen: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=10_000))

    def script(self, kind: FaultKind, method: str | None = None, path: str | None = None) -> None:
        self.scripted.append(ScriptedFault(kind, method, path))

    def choose(self, method: str, path: str) -> FaultKind | None:
        for i, fault in enumerate(self.scripted):
            if fault.matches(method, path):
                del self.scripted[i]
                return fault.kind
        if self.failure_rate and self.rng.random() < self.failure_rate:
            kind = self.rng.choice(self.failure_kinds)
            return "hang" if kind.startswith("commit-") and method not in WRITE_METHODS else kind
        if method in WRITE_METHODS and self.commit_then_drop_rate and self.rng.random() < self.commit_then_drop_rate:
            return "commit-then-drop"
        return None


class FaultInjector:
    """ASGI middleware applying ``Faults`` to every HTTP request."""

    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults = self.faults
        faults.seen.append((scope["method"], scope["path"]))
        if faults.latency_seconds:
            await asyncio.sleep(faults.latency_seconds)
        kind = faults.choose(scope["method"], scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        faults.injected += 1
        if kind == "drop":
            await _cut(send, 200, b'{"runs": [')
        if kind == "commit-then-drop":
            await self.app(scope, receive, _CutAfterHeaders(send))
            raise ConnectionDropped("connection dropped after the write was committed")
        if kind == "hang":
            await asyncio.sleep(faults.hang_seconds)
            await _cut(send, 200, b"")
        if kind == "commit-late":
            body = await _read_body(receive)  # before the client gives up and its body with it
            await asyncio.sleep(faults.hang_seconds)
            await self.app(scope, _replay(body), send)  # answered to a client that has long given up
            return
        if kind in ("commit-then-hang", "commit-then-502"):
            await self.app(scope, receive, _withheld)
            if kind == "commit-then-hang":
                await asyncio.sleep(faults.hang_seconds)
                await _cut(send, 200, b"")
            kind = "502"
        body = json.dumps({"error": f"injected fault {kind}"}).encode()
        await send({"type": "http.response.start", "status": int(kind),
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # as a live connection would: nothing more, ever
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _withheld(message: dict[str, Any]) -> None:
    """A response that never reaches the client."""


async def _cut(send: Any, status: int, partial: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
    await send({"type": "http.response.body", "body": partial, "more_body": True})
    raise ConnectionDropped("connection dropped")


class _CutAfterHeaders:
    """Lets the app's response start through, then cuts the body off."""

    def __init__(self, send: Any) -> None:
        self._send = send

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
            await self._send({**message, "headers": [*headers, (b"content-length", b"4096")]})
        elif message["type"] == "http.response.body":
            await self._send({"type": "http.response.body", "body": message.get("body", b"")[:1], "more_body": True})


class EmulatorTransport(httpx.AsyncBaseTransport):
    """httpx's ASGI transport for the in-process emulator, with drops surfacing as network errors."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(f"peer closed connection: {exc}", request=request) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
