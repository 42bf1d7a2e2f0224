"""The client's HTTP/1.1 transport against a scripted server on loopback: framing (length, chunks, the end of the
connection), keep-alive and its limits, and failures that keep httpx's meaning (sent or not)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.transport import Http11Transport
from chariot_apply.chariot.errors import TransportError
from chariot_apply.emulator.server import BackgroundServer

pytestmark = pytest.mark.anyio

Answer = Callable[[bytes], bytes | None]  # the request head -> what to write back (None: close at once)


def reply(body: bytes = b'{"ok": true}', status: str = "200 OK", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Scripted:
    """Answers each request with the next of ``answers`` (the last one repeats), closing the connection after each
    answer if ``close_after``; counts connections."""

    answers: list[Answer]
    close_after: bool = False
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.bodies.append(await reader.readexactly(length))
                self.heads.append(head)
                answer = self.answers[min(len(self.heads), len(self.answers)) - 1](head)
                if answer is None:
                    return
                writer.write(answer)  # b"": no answer at all, the client waits
                await writer.drain()
                if self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def scripted(*answers: Answer, close_after: bool = False) -> AsyncIterator[Scripted]:
    script = Scripted(list(answers), close_after)
    server = await asyncio.start_server(script.serve, "127.0.0.1", 0)
    script.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield script
        server.close()


def always(data: bytes | None) -> Answer:
    return lambda head: data


def plain() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=Http11Transport(tls=False))


async def test_keep_alive_reuses_one_connection_and_sends_what_httpx_built() -> None:
    async with scripted(always(reply(b'{"n": 1}'))) as server, plain() as client:
        for _ in range(5):
            response = await client.post(server.url + "/api/x?a=1&b=%20", json={"k": "v"})
            assert (response.status_code, response.json(), response.reason_phrase) == (200, {"n": 1}, "OK")
    assert server.connections == 1
    first = server.heads[0]
    assert first.startswith(b"POST /api/x?a=1&b=%20 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first and b"\r\nContent-Type: application/json\r\n" in first
    assert [json.loads(body) for body in server.bodies] == [{"k": "v"}] * 5  # framed by its Content-Length


async def test_a_compressed_answer_is_decoded() -> None:
    packed = gzip.compress(b'{"runs": []}')
    async with scripted(always(reply(packed, "200 OK", "Content-Encoding: gzip"))) as server, plain() as client:
        assert (await client.get(server.url + "/")).json() == {"runs": []}


@pytest.mark.parametrize(("answer", "body"), [
    (reply(b"", "204 No Content"), b""),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n3\r\nefg\r\n0\r\nT: 1\r\n\r\n",
     b"abcdefg"),
    (b"HTTP/1.1 100 Continue\r\n\r\n" + reply(b"after"), b"after"),
])
async def test_framings(answer: bytes, body: bytes) -> None:
    async with scripted(always(answer)) as server, plain() as client:
        for _ in range(2):
            assert (await client.get(server.url + "/")).content == body
    assert server.connections == 1  # each answer was read to its end: the connection stayed usable


@pytest.mark.parametrize("answer", [reply(b"bye", "200 OK", "Connection: close"),
                                    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye"])
async def test_a_connection_the_server_ends_is_not_reused(answer: bytes) -> None:
    async with scripted(always(answer)) as server, plain() as client:
        for _ in range(3):
            assert (await client.get(server.url + "/")).content == b"bye"
    assert server.connections == 3


async def test_an_answer_delimited_by_the_end_of_the_connection() -> None:
    async with scripted(always(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"), close_after=True) as server, \
            plain() as client:
        for _ in range(2):
            assert (await client.get(server.url + "/")).content == b"until the end"
    assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error() -> None:
    """Servers drop idle connections (uvicorn after 5 s): the next request must not fail as if sent and lost."""
    async with scripted(always(reply()), close_after=True) as server:
        transport = Http11Transport(tls=False)
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(server.url + "/")
            (idle,) = next(iter(transport._idle.values()))
            for _ in range(500):  # until the server's close has reached the client
                if not idle.usable():
                    break
                await asyncio.sleep(0.01)
            assert (await client.post(server.url + "/", json={})).status_code == 200
    assert server.connections == 2


async def test_an_unsolicited_408_on_an_idle_connection_is_never_read_as_the_next_answer() -> None:
    """A server that times an idle connection out may say so first (``408``, then close): those bytes wait in the
    client's buffer, and were once read as the answer to the next request. httpcore treats a readable idle
    connection as expired; so must we."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply(b"first" if len(connections) == 1 else b"second"))
        await writer.drain()
        if len(connections) == 1:
            await asyncio.sleep(0.05)  # idle now: the server gives up on it, and says so
            writer.write(reply(b"", "408 Request Timeout", "Connection: close"))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with server, plain() as client:
        assert (await client.get(url)).content == b"first"
        await asyncio.sleep(0.3)  # the 408 and the close have reached the client
        second = await client.post(url, json={})
    assert (second.status_code, second.content) == (200, b"second")
    assert len(connections) == 2


async def test_bytes_that_arrive_after_an_answer_was_read_keep_its_connection_from_reuse() -> None:
    """Sent after the answer's last byte, but before the next request: never the next request's answer."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            writer.write(reply(b"answer"))
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with server, plain() as client:
        answers = []
        for _ in range(3):
            answers.append((await client.get(url)).content)
            await asyncio.sleep(0.1)
    assert answers == [b"answer"] * 3


async def test_a_half_closed_idle_connection_is_not_reused() -> None:
    """The server ends its side (FIN) but leaves the socket open: nothing more can come back on it."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply(b"ok"))
        await writer.drain()
        writer.write_eof()  # half-closed: still reading, never answering again
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with server, httpx.AsyncClient(transport=Http11Transport(tls=False),
                                         timeout=httpx.Timeout(5, read=0.5)) as client:
        assert (await client.get(url)).content == b"ok"
        await asyncio.sleep(0.2)
        assert (await client.post(url, json={})).content == b"ok"
    assert len(connections) == 2


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("DELETE", True), ("POST", False)])
async def test_a_reused_connection_the_server_drops_unanswered_is_retried_only_where_repeating_is_safe(
        method: str, retried: bool) -> None:
    """The keep-alive race: the server closes an idle connection as the next request goes out on it. Nothing came
    back, so an idempotent request goes again on a new connection; a POST may have been acted on, and is said so."""
    async with scripted(always(reply()), always(None), always(reply(b"fresh"))) as server, plain() as client:
        assert (await client.get(server.url + "/")).status_code == 200
        if retried:
            assert (await client.request(method, server.url + "/")).content == b"fresh"
        else:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.request(method, server.url + "/", json={})
    assert server.connections == (2 if retried else 1)


async def test_the_whole_answer_is_bounded_too_and_is_not_retried() -> None:
    """A server that trickles its answer never goes silent for a read timeout; the answer as a whole is bounded
    (``ANSWER_READS`` read timeouts), and the client does not send it again: a slow answer is not a lost one."""
    stop = asyncio.Event()
    requests: list[int] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        requests.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                writer.write(b" ")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.02)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    started = asyncio.get_running_loop().time()
    async with server, AsyncChariotClient(url, timeout_seconds=0.2) as client:
        with pytest.raises(TransportError, match="in all"):
            await client.get_projects()
        stop.set()
    assert asyncio.get_running_loop().time() - started < 0.2 * 3 + 2
    assert requests == [1]


async def test_keep_alive_expiry_opens_a_new_connection() -> None:
    async with scripted(always(reply())) as server, \
            httpx.AsyncClient(transport=Http11Transport(tls=False, keepalive_expiry=0.0)) as client:
        for _ in range(3):
            await client.get(server.url + "/")
    assert server.connections == 3


async def test_requests_beyond_the_limit_wait_for_a_connection() -> None:
    async with scripted(always(reply())) as server, \
            httpx.AsyncClient(transport=Http11Transport(tls=False, max_connections=2)) as client:
        answers = await asyncio.gather(*(client.get(server.url + "/") for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    assert server.connections == server.most_open == 2  # six at once would have opened six


async def test_a_garbage_answer_is_a_protocol_error_and_the_connection_is_dropped() -> None:
    async with scripted(always(b"SMTP ready\r\n\r\n"), always(reply())) as server, plain() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url + "/")
        assert (await client.get(server.url + "/")).status_code == 200
    assert server.connections == 2


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"])
async def test_an_answer_cut_short_is_a_protocol_error(answer: bytes | None) -> None:
    """Nothing, or part of an answer, then the end: the client counts such a request as maybe sent."""
    async with scripted(always(answer), close_after=True) as server, plain() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(server.url + "/", json={})


async def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as held:  # bound, not listening: refused
        held.bind(("127.0.0.1", 0))
        async with plain() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{held.getsockname()[1]}/")


async def test_a_request_with_no_answer_times_out_and_its_connection_is_dropped() -> None:
    async with scripted(always(b""), always(reply())) as server:
        transport = Http11Transport(tls=False)
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, read=0.2)) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(server.url + "/")
            assert not any(transport._idle.values())
            assert (await client.get(server.url + "/")).status_code == 200
    assert server.connections == 2


async def test_a_cancelled_request_never_leaves_its_connection_for_reuse() -> None:
    async with scripted(always(b""), always(reply())) as server:
        transport = Http11Transport(tls=False)
        async with httpx.AsyncClient(transport=transport) as client:
            waiting = asyncio.ensure_future(client.get(server.url + "/"))
            while not server.heads:
                await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert not any(transport._idle.values())
            assert (await client.get(server.url + "/")).status_code == 200
    assert server.connections == 2


def test_one_transport_serves_one_event_loop_after_another(server: BackgroundServer) -> None:
    """A script may call asyncio.run twice with one client: the first loop's connections are not reused."""
    transport = Http11Transport(tls=False)

    async def ask() -> int:
        client = httpx.AsyncClient(transport=transport)
        return (await client.get(server.url + "/api/identity/v2/projects")).status_code

    assert [asyncio.run(ask()) for _ in range(3)] == [200] * 3


async def test_the_read_timeout_bounds_each_silence_not_the_whole_answer() -> None:
    """httpx's meaning: an answer that keeps flowing is read to its end however long it takes in all."""
    pieces = [b"x" * 10] * 12

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % sum(map(len, pieces)))
        for piece in pieces:  # 12 pauses of 0.1 s: longer in all than the 0.5 s read timeout
            await asyncio.sleep(0.1)
            writer.write(piece)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    async with server, httpx.AsyncClient(transport=Http11Transport(tls=False),
                                         timeout=httpx.Timeout(5, read=0.5)) as client:
        response = await client.get(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
    assert response.content == b"".join(pieces)


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_a_proxy_named_by_the_environment_carries_the_requests(no_proxies: pytest.MonkeyPatch) -> None:
    """httpx ignores the environment once given a transport: the client must read it itself."""
    async with scripted(always(reply(b'{"projects": []}'))) as proxy:
        no_proxies.setenv("HTTP_PROXY", proxy.url)
        async with AsyncChariotClient("http://chariot.internal.example:8700") as client:
            assert await client.get_projects() == []
    assert proxy.heads[0].startswith(b"GET http://chariot.internal.example:8700/api/identity/v2/projects")


async def test_no_proxy_exempts_a_server(no_proxies: pytest.MonkeyPatch, server: BackgroundServer) -> None:
    no_proxies.setenv("ALL_PROXY", "http://127.0.0.1:9")  # nothing there: used, it would fail
    no_proxies.setenv("NO_PROXY", "127.0.0.1")
    async with AsyncChariotClient(server.url) as client:
        assert [p.name for p in await client.get_projects()] == ["default", "nlp", "vision"]


@pytest.mark.parametrize(("answer", "why"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0_3\r\n\r\nabc", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", "chunk"),
    (b"HTTP/1.1 2000 OK\r\nContent-Length: 3\r\n\r\nabc", "status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nabcde", "conflicting Content-Length"),
])
async def test_a_hostile_answer_is_refused_and_its_connection_never_reused(answer: bytes, why: str) -> None:
    """Each of these was once read as a valid answer (two lengths: 3 bytes read, the rest left to corrupt the next
    answer on the same connection)."""
    async with scripted(always(answer), always(reply(b"next"))) as server, plain() as client:
        with pytest.raises(httpx.RemoteProtocolError, match=why):
            await client.get(server.url + "/")
        assert (await client.get(server.url + "/")).content == b"next"
    assert server.connections == 2


async def test_bytes_after_an_answer_keep_its_connection_from_reuse() -> None:
    """An answer followed by bytes nobody asked for: the next answer on that connection could not be trusted."""
    async with scripted(always(reply(b"one") + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")) as server, \
            plain() as client:
        assert [(await client.get(server.url + "/")).content for _ in range(2)] == [b"one", b"one"]
    assert server.connections == 2


async def test_bare_line_feeds_are_read_as_line_ends() -> None:
    async with scripted(always(b"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc")) as server, plain() as client:
        assert [(await client.get(server.url + "/")).content for _ in range(2)] == [b"abc", b"abc"]
    assert server.connections == 1


async def test_a_streamed_request_body_is_sent_in_chunks() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b'{"a": ', b"1}"):
            yield piece

    async def read_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        body = b""
        while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
        received.append((head, body))
        writer.write(reply())
        await writer.drain()
        writer.close()

    received: list[tuple[bytes, bytes]] = []
    server = await asyncio.start_server(read_chunked, "127.0.0.1", 0)
    async with server, plain() as client:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        assert (await client.post(url, content=pieces())).status_code == 200
    ((head, body),) = received
    assert b"Transfer-Encoding: chunked" in head and body == b'{"a": 1}'


def test_a_given_ssl_context_is_used_as_it_is() -> None:
    import ssl

    from chariot_apply.backends.rest.transport import tls_context

    context = ssl.create_default_context()
    context.check_hostname = False
    assert tls_context(context, None) is context
