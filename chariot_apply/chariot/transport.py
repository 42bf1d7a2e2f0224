"""A transport that spreads requests over several small connection pools.

httpcore's pool re-examines every connection for every queued request, so its CPU cost grows
with (requests in flight x connections): 32 concurrent requests over one 64-connection pool cost
~370 ms of client CPU here, ~11 ms each, more than the 25 ms round trip they wait for
(bench/plan_bench.py). Several pools of a few connections each keep that product small.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import certifi
import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, shards: int = 8, connections_per_shard: int = 4, verify: Any = True,
                 cert: Any = None, tls: bool = True) -> None:
        """``tls``: False for a plain-http server, whose requests never need the CA bundle (~20 ms to load)."""
        limits = httpx.Limits(max_connections=connections_per_shard,
                              max_keepalive_connections=connections_per_shard)
        # One context for all shards. Without TLS, one that trusts nothing: never used, and it would fail closed.
        context = tls_context(verify, cert) if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._shards = [httpx.AsyncHTTPTransport(verify=context, limits=limits) for _ in range(shards)]
        self._in_flight = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._shards)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            self._in_flight[index] -= 1
            raise
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_Released(response.stream, lambda: self._release(index)),
                              extensions=response.extensions, request=request)

    def _release(self, index: int) -> None:
        self._in_flight[index] -= 1

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


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


class _Released(httpx.AsyncByteStream):
    """The shard stays busy until the response body has been read and closed."""

    def __init__(self, stream: Any, release: Any) -> None:
        self._stream = stream
        self._release = release
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._done:
                self._done = True
                self._release()
