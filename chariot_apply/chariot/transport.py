"""HTTP/1.1 for the client: keep-alive connections over asyncio streams, behind httpx's transport interface.

httpcore (httpx's default) cost the client ~0.74 ms of CPU per request here, behind sharded pools (its own pool
re-examines every connection for every queued request: one pool of 64 cost ~1.4 ms), in h11 and in anyio's
cancel scopes; through this transport the same request costs ~0.21 ms (a GET of the projects, 16 in flight, on
loopback), and an apply's client CPU per create halved. Chariot answers JSON documents, so each answer is read
whole. It speaks HTTP/1.1 only, and directly: where the environment names a proxy for the server
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, minus ``NO_PROXY``), ``transport_for`` chooses httpx's own
transport through it (httpx reads the environment only when it chooses the transport itself).

Failures keep httpx's meaning, which the client relies on to know whether a request may have reached the server:
``ConnectError``/``ConnectTimeout``/``PoolTimeout``: nothing was sent; ``WriteError``, ``ReadError``,
``RemoteProtocolError``, ``ReadTimeout``, ``WriteTimeout``: it may have been.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections import deque
from typing import Any

import certifi
import httpx

Origin = tuple[str, str, int]  # scheme, host, port
#: The read buffer, and the most a response's status line and headers may take.
READ_BUFFER = 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


class Http11Transport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` requests in flight per server, each on a connection of its own; idle connections
    are kept for ``keepalive_expiry`` seconds (a server closes idle ones after a while: uvicorn after 5 s)."""

    def __init__(self, *, max_connections: int = 64, verify: Any = True, cert: Any = None, tls: bool = True,
                 keepalive_expiry: float = 4.0) -> None:
        """``tls``: False for a plain-http server, whose requests never need the CA bundle (~20 ms to load)."""
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
            connection = self._reuse(origin) or await self._connect(origin, timeouts.get("connect"))
            self._busy.add(connection)
            try:
                status, reason, headers, body, reusable = await connection.exchange(request, timeouts)
            except BaseException:
                connection.close()  # its state is unknown: never reused
                raise
            finally:
                self._busy.discard(connection)
            if reusable:
                connection.idle_since = loop.time()
                self._idle.setdefault(origin, deque()).append(connection)
            else:
                connection.close()
        finally:
            slots.release()
        return httpx.Response(status, headers=headers, content=body, request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

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
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=READ_BUFFER,
                                                               server_hostname=host if context else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        if asyncio.get_running_loop() is self._loop:  # another loop's connections cannot be closed from here
            for connection in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
                connection.close()
        self._idle, self._busy = {}, set()


class _Connection:
    """One keep-alive connection: one exchange at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def usable(self) -> bool:
        """False once the server has closed it (or it broke) while idle."""
        return not (self.reader.at_eof() or self.reader.exception() is not None or self.writer.is_closing())

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def exchange(self, request: httpx.Request, timeouts: dict[str, float | None],
                       ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        """Send ``request`` and read its whole answer: (status, reason, headers, body, whether the connection may
        be reused)."""
        body = await request.aread()
        head = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        try:
            async with asyncio.timeout(timeouts.get("write")):
                self.writer.write(b"".join(head) + body)
                await self.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("sending the request timed out") from None
        except OSError as exc:
            raise httpx.WriteError(f"sending the request failed: {exc}") from None
        try:
            return await self._read_response(_TimedReader(self.reader, timeouts.get("read")), request.method)
        except TimeoutError:
            raise httpx.ReadTimeout("the server sent nothing within the read timeout") from None
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("the server closed the connection before its answer was complete") \
                from None
        except (asyncio.LimitOverrunError, ValueError) as exc:
            raise httpx.RemoteProtocolError(f"the server's answer is not HTTP/1.1: {exc}") from None
        except OSError as exc:
            raise httpx.ReadError(f"reading the answer failed: {exc}") from None

    @staticmethod
    async def _read_response(read: _TimedReader, method: str) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes,
                                                                       bool]:
        while True:
            lines = (await read.until(b"\r\n\r\n"))[:-4].split(b"\r\n")
            version, _, rest = lines[0].partition(b" ")
            if not version.startswith(b"HTTP/1."):
                raise ValueError(f"status line {lines[0][:80]!r}")
            status, reason = int(rest[:3]), rest[4:]
            if status >= 200:
                break  # 1xx (100 Continue, 103 Early Hints) precede the real answer
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise ValueError(f"header line {line[:80]!r}")
            headers.append((name, value.strip()))
        fields = {name.lower(): value for name, value in headers}
        keep_alive = version == b"HTTP/1.1" and fields.get(b"connection", b"").lower() != b"close"
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            return status, reason, headers, b"", keep_alive
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            return status, reason, headers, await _read_chunked(read), keep_alive
        if b"content-length" in fields:
            length = int(fields[b"content-length"])
            if length < 0:
                raise ValueError(f"content-length {length}")
            return status, reason, headers, await read.exactly(length), keep_alive
        return status, reason, headers, await read.to_end(), False  # delimited by the end of the connection


async def _read_chunked(read: _TimedReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await read.until(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await read.until(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(chunks)
        chunks.append((await read.exactly(size + 2))[:-2])


class _TimedReader:
    """Reads of a stream, each wait for data bounded by ``timeout``: httpx's read timeout is the longest silence
    allowed, not a bound on a whole answer (a large page on a slow link keeps flowing)."""

    def __init__(self, reader: asyncio.StreamReader, timeout: float | None) -> None:
        self._reader, self._timeout = reader, timeout

    async def until(self, separator: bytes) -> bytes:
        async with asyncio.timeout(self._timeout):
            return await self._reader.readuntil(separator)

    async def exactly(self, size: int) -> bytes:
        pieces: list[bytes] = []
        missing = size
        while missing:
            async with asyncio.timeout(self._timeout):
                piece = await self._reader.read(missing)
            if not piece:
                raise asyncio.IncompleteReadError(b"".join(pieces), size)
            pieces.append(piece)
            missing -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def to_end(self) -> bytes:
        pieces: list[bytes] = []
        while True:
            async with asyncio.timeout(self._timeout):
                piece = await self._reader.read(READ_BUFFER)
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)


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
    """``verify``: True (the certifi bundle), False, or a CA bundle path; ``cert``: a path or (cert, key)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else certifi.where())
    if cert is not None:
        certfile, keyfile = cert if isinstance(cert, tuple) else (cert, None)
        context.load_cert_chain(certfile, keyfile)
    return context
