"""HTTP/1.1 for the client: a pool of keep-alive connections over asyncio streams, behind httpx's transport
interface, with every byte of HTTP/1.1 framed by h11 (httpcore's own parser): this module owns the pool, never
the protocol.

Why not httpcore's pool: it re-examines every connection for every queued request, which cost the client most of
its CPU per request at the concurrency a plan uses (``bench/plan_bench.py`` prints the client CPU per request).
Chariot answers JSON documents, so each answer is read whole. Where the environment names a proxy for the server
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``), ``transport_for`` chooses httpx's own
transport through it (httpx reads the environment only when it chooses the transport itself).

Failures keep httpx's meaning, which the client relies on to know whether a request may have reached the server:
``ConnectError``/``ConnectTimeout``/``PoolTimeout``: nothing was sent; ``WriteError``, ``ReadError``,
``RemoteProtocolError``, ``ReadTimeout``, ``WriteTimeout``: it may have been.

An idle connection is reused only while nothing at all has come back on it since its last answer (httpcore's rule:
a readable idle connection has expired): a server's unsolicited ``408`` before it closes is never read as the next
answer. Each silence is bounded by the read timeout, and the whole answer by ``ANSWER_READS`` of them.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import urllib.request
from collections import deque
from collections.abc import Iterable
from typing import Any, SupportsIndex

import certifi
import h11
import httpx

Origin = tuple[str, str, int]  # scheme, host, port
#: The most bytes asked of the socket at once.
READ_CHUNK = 256 * 1024
#: The most a response's status line and headers may take.
MAX_HEAD = 64 * 1024
#: A whole answer may take this many read timeouts, however steadily it trickles in.
ANSWER_READS = 3
#: Requests that may go again on a new connection when a reused one was dropped before any answer (RFC 9110 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class AnswerTooSlow(httpx.ReadTimeout):
    """The answer kept coming, too slowly to end within ``ANSWER_READS`` read timeouts: asking again would be as
    slow, so the client does not."""


class _DroppedUnanswered(Exception):
    """A reused connection ended before a single byte of its answer: the server closed it as it went idle."""


class Http11Transport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` requests in flight per server, each on a connection of its own; idle connections
    are kept for ``keepalive_expiry`` seconds (a server closes idle ones after a while: uvicorn after 5 s)."""

    def __init__(self, *, max_connections: int = 64, verify: Any = True, cert: Any = None, tls: bool = True,
                 keepalive_expiry: float = 4.0) -> None:
        """``tls``: False for a plain-http server, whose requests never need the CA bundle (slow to load)."""
        self._context = tls_context(verify, cert) if tls else None
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._busy: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections and semaphores belong to the loop they were made in
            self._idle, self._slots, self._busy, self._loop = {}, {}, set(), loop
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        slots = self._slots.get(origin) or self._slots.setdefault(origin, asyncio.Semaphore(self._max_connections))
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection to {url.host} within the pool timeout") from None
        try:
            reused = self._reuse(origin)
            # The keep-alive race: a server closes an idle connection as a request goes out on it. Nothing came
            # back, nothing was acted on: a request that may be repeated goes again, once, on a new connection.
            again = reused is not None and request.method in IDEMPOTENT and isinstance(request.stream, httpx.ByteStream)
            try:
                status, reason, headers, body = await self._exchange(
                    origin, reused or await self._connect(origin, timeouts.get("connect")), request, timeouts, again)
            except _DroppedUnanswered:
                status, reason, headers, body = await self._exchange(
                    origin, await self._connect(origin, timeouts.get("connect")), request, timeouts, False)
        finally:
            slots.release()
        return httpx.Response(status, headers=headers, content=body, request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def _exchange(self, origin: Origin, connection: _Connection, request: httpx.Request,
                        timeouts: dict[str, float | None], again: bool,
                        ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """One exchange on ``connection``, which goes back to the idle ones if it may be reused. ``again``: a drop
        before any answer is raised as ``_DroppedUnanswered``, for the caller to send the request again."""
        self._busy.add(connection)
        try:
            status, reason, headers, body, reusable = await connection.exchange(request, timeouts)
        except _DroppedUnanswered:
            connection.close()
            if again:
                raise
            raise httpx.RemoteProtocolError("the server closed the connection without an answer") from None
        except BaseException:
            connection.close()  # its state is unknown: never reused
            raise
        finally:
            self._busy.discard(connection)
        if reusable:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(origin, deque()).append(connection)
        else:
            connection.close()
        return status, reason, headers, body

    def _reuse(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection that the server has not closed, if any."""
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.usable() and now - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._context or tls_context(True, None)
        loop = asyncio.get_running_loop()
        reader = _CountingReader(limit=READ_CHUNK, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(lambda: protocol, host, port, ssl=context,
                                                            server_hostname=host if context else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        return _Connection(reader, asyncio.StreamWriter(transport, protocol, reader, loop))

    async def aclose(self) -> None:
        if asyncio.get_running_loop() is self._loop:  # another loop's connections cannot be closed from here
            for connection in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
                connection.close()
        self._idle, self._busy = {}, set()


class _Silence(Exception):
    """The server sent nothing within the read timeout."""


class _CountingReader(asyncio.StreamReader):
    """Counts the bytes the socket delivered, so that a connection knows whether any came that it has not read."""

    delivered = 0

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        self.delivered += len(bytes(data))
        super().feed_data(data)


class _Connection:
    """One keep-alive connection, one exchange at a time; h11 frames every byte of HTTP/1.1 in both directions."""

    def __init__(self, reader: _CountingReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = 0.0
        self.taken = 0  # bytes read from ``reader``

    def usable(self) -> bool:
        """False once the server has closed it, broken it, or sent anything at all since its last answer."""
        return not (self.reader.delivered != self.taken or self.reader.at_eof()
                    or self.reader.exception() is not None or self.writer.is_closing())

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def exchange(self, request: httpx.Request, timeouts: dict[str, float | None],
                       ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        """Send ``request`` and read its whole answer: (status, reason, headers, body, whether the connection may
        be reused). h11 refuses what is not HTTP/1.1 (a malformed length, status or chunk, conflicting lengths):
        a ``RemoteProtocolError``, and the connection is never reused."""
        try:
            await self._send(request, timeouts.get("write"))
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(f"the request cannot be sent as HTTP/1.1: {exc}") from None
        read = timeouts.get("read")
        try:
            async with asyncio.timeout(None if read is None else read * ANSWER_READS):
                return await self._receive(read)
        except _DroppedUnanswered:
            raise
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(f"the server's answer is not valid HTTP/1.1: {exc}") from None
        except _Silence:
            raise httpx.ReadTimeout("the server sent nothing within the read timeout") from None
        except TimeoutError:
            raise AnswerTooSlow(f"the answer took more than {ANSWER_READS} read timeouts "
                                f"({ANSWER_READS * (read or 0):g} s) in all: the server sends it too slowly") from None
        except OSError as exc:
            raise httpx.ReadError(f"reading the answer failed: {exc}") from None

    async def _send(self, request: httpx.Request, timeout: float | None) -> None:
        """The request head and body as h11 frames them (a streamed body in chunks where httpx asked for them)."""
        head = h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
        self._write(self.http.send(head))
        async for piece in request.stream:  # type: ignore[union-attr]  # an async request always has an async stream
            if piece:
                self._write(self.http.send(h11.Data(data=piece)))
        self._write(self.http.send(h11.EndOfMessage()))
        try:
            async with asyncio.timeout(timeout):
                await self.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("sending the request timed out") from None
        except OSError as exc:
            raise httpx.WriteError(f"sending the request failed: {exc}") from None

    def _write(self, data: bytes | None) -> None:
        if data:
            self.writer.write(data)

    async def _receive(self, timeout: float | None) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        response: h11.Response | None = None
        pieces: list[bytes] = []
        before = self.taken
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(timeout):  # each silence is bounded here; the whole answer above
                        data = await self.reader.read(READ_CHUNK)
                except TimeoutError:
                    raise _Silence from None
                self.taken += len(data)
                if not data and self.http.their_state is h11.SEND_RESPONSE:
                    if self.taken == before:  # not a byte of an answer
                        raise _DroppedUnanswered
                    raise h11.RemoteProtocolError("the server closed the connection without an answer")
                self.http.receive_data(data)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                pieces.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the server closed the connection before its answer was complete")
            # h11.InformationalResponse (100 Continue, 103 Early Hints) precedes the real answer
        assert response is not None  # h11 ends a message only after its head
        leftover, _ = self.http.trailing_data
        reusable = self.http.our_state is h11.DONE and self.http.their_state is h11.DONE and not leftover
        if reusable:
            self.http.start_next_cycle()
        return response.status_code, bytes(response.reason), list(response.headers.raw_items()), b"".join(pieces), \
            reusable


def transport_for(base_url: str, *, max_connections: int = 64, verify: Any = True,
                  cert: Any = None) -> httpx.AsyncBaseTransport:
    """The transport for a server: ours, or httpx's through the proxy the environment names for it."""
    url = httpx.URL(base_url)
    tls = url.scheme != "http"
    proxy = environment_proxy(url)
    if proxy is not None:
        return httpx.AsyncHTTPTransport(proxy=proxy, verify=tls_context(verify, cert) if tls else False,
                                        limits=httpx.Limits(max_connections=max_connections))
    return Http11Transport(max_connections=max_connections, verify=verify, cert=cert, tls=tls)


def environment_proxy(url: httpx.URL) -> str | None:
    """The proxy ``*_proxy`` variables name for ``url`` (any case; ``ALL_PROXY`` for any scheme), unless
    ``NO_PROXY`` exempts its host: the rules curl, requests and httpx follow."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(f"{url.host}:{url.port}" if url.port else url.host):
        return None
    return proxy


def tls_context(verify: Any, cert: Any) -> ssl.SSLContext:
    """``verify``: an ``ssl.SSLContext`` (used as it is), True (the certifi bundle), False, or a CA bundle path
    (a file, or a directory as ``SSL_CERT_DIR`` is);
    ``cert``: a path or (cert, key)."""
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        if isinstance(verify, str) and os.path.isdir(verify):  # a directory of hashed certificates
            context = ssl.create_default_context(capath=verify)
        else:
            context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else certifi.where())
    if cert is not None:
        certfile, keyfile = cert if isinstance(cert, tuple) else (cert, None)
        context.load_cert_chain(certfile, keyfile)
    return context
