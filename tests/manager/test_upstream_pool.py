"""The proxy's connection pool against small raw HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from manager.proxy.upstream import (
    HIGH_WATER,
    UpstreamBroken,
    UpstreamClosed,
    UpstreamPool,
    UpstreamUnreachable,
)
from modelyard_dev.procs import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.closed_by_peer = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_peer.set()
        finally:
            self.open -= 1
            writer.close()


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[RawServer, str]]:
    state = RawServer(handler)
    server = await asyncio.start_server(state._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return await reader.readexactly(length)


def answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def reply(raw: bytes, *, hold_s: float = 0.0) -> Handler:
    """A handler that reads one request, writes ``raw`` and keeps the connection ``hold_s``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        await asyncio.sleep(hold_s)

    return handle


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = await read_request(reader)
        writer.write(answer(body))
        await writer.drain()


async def read_all(pool: UpstreamPool, body: bytes) -> tuple[int, bytes]:
    exchange = await pool.request(b"POST", b"/v1/x", [(b"content-type", b"text/plain")], body)
    out = bytearray()
    while chunk := await exchange.next_chunk():
        out += chunk
    return exchange.status, bytes(out)


def pool_for(url: str, **overrides: float) -> UpstreamPool:
    options: dict[str, float] = {"max_connections": 8, "read_timeout_s": 30.0}
    options.update(overrides)
    return UpstreamPool(
        url,
        max_connections=int(options["max_connections"]),
        read_timeout_s=options["read_timeout_s"],
    )


async def test_sequential_requests_reuse_one_connection() -> None:
    async with raw_server(echo_forever) as (server, url):
        pool = pool_for(url)
        for i in range(5):
            assert await read_all(pool, f"hello {i}".encode()) == (200, f"hello {i}".encode())
        await pool.aclose()
    assert server.connections == 1


async def test_request_carries_base_path_host_and_extra_headers() -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        writer.write(answer(b"{}"))
        await writer.drain()

    async with raw_server(record) as (_server, url):
        pool = UpstreamPool(
            url + "/prefix/",
            max_connections=1,
            read_timeout_s=5,
            extra_headers={"authorization": "Bearer inner"},
        )
        await read_all(pool, b"")
        await pool.aclose()
    head = seen[0].decode()
    assert head.startswith("POST /prefix/v1/x HTTP/1.1\r\n")
    assert f"host: {url.removeprefix('http://')}\r\n" in head
    assert "authorization: Bearer inner\r\n" in head
    assert "content-length: 0\r\n" in head


async def test_connection_the_server_closed_is_not_reused() -> None:
    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        writer.write(answer(body))  # keep-alive by HTTP/1.1 default, then closed anyway
        await writer.drain()

    async with raw_server(one_answer) as (server, url):
        pool = pool_for(url)
        assert await read_all(pool, b"a") == (200, b"a")
        await asyncio.sleep(0.05)  # the close arrives; the pool forgets the connection
        assert await read_all(pool, b"b") == (200, b"b")
        await pool.aclose()
    assert server.connections == 2


async def request_fails(url: str, error: type[Exception]) -> None:
    pool = pool_for(url)
    with pytest.raises(error):
        await pool.request(b"POST", b"/v1/x", [], b"{}")
    await pool.aclose()


async def test_close_before_any_answer_is_upstream_closed() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(hang_up) as (_server, url):
        await request_fails(url, UpstreamClosed)


async def test_refused_is_unreachable() -> None:
    await request_fails(f"http://127.0.0.1:{free_port()}", UpstreamUnreachable)


async def test_garbage_is_broken() -> None:
    async with raw_server(reply(b"THIS IS NOT HTTP\r\n\r\n", hold_s=1)) as (_server, url):
        await request_fails(url, UpstreamBroken)


async def test_cut_off_body_is_broken() -> None:
    cut = reply(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
    async with raw_server(cut) as (_server, url):
        pool = pool_for(url)
        exchange = await pool.request(b"POST", b"/v1/x", [], b"{}")
        with pytest.raises(UpstreamBroken):
            while await exchange.next_chunk():
                pass
        exchange.close()
        await pool.aclose()


async def test_silence_longer_than_read_timeout_is_broken() -> None:
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n"
    async with raw_server(reply(head, hold_s=5)) as (_server, url):
        pool = pool_for(url, read_timeout_s=0.2)
        exchange = await pool.request(b"POST", b"/v1/x", [], b"{}")
        assert await exchange.next_chunk() == b"first"
        with pytest.raises(UpstreamBroken, match="no data"):
            await asyncio.wait_for(exchange.next_chunk(), 3)
        exchange.close()
        await pool.aclose()


async def test_slow_reader_pushes_back_on_the_server() -> None:
    total = 8 * 2**20
    piece = b"x" * 2**16
    sent = 0

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: " + str(total).encode() + b"\r\n\r\n")
        while sent < total:
            writer.write(piece)
            await writer.drain()
            sent += len(piece)

    async with raw_server(flood) as (_server, url):
        pool = pool_for(url)
        exchange = await pool.request(b"POST", b"/v1/x", [], b"{}")
        await asyncio.sleep(0.3)  # nobody reads
        held = exchange._buffered
        stalled_at = sent
        received = 0
        while chunk := await exchange.next_chunk():
            received += len(chunk)
        await pool.aclose()
    assert held <= HIGH_WATER + 2**20  # one socket read past the mark at most
    assert stalled_at < total  # the server was held back, not allowed to send it all
    assert received == total


async def test_close_mid_answer_closes_the_connection() -> None:
    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(200):
            writer.write(b"3\r\nabc\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    async with raw_server(stream) as (server, url):
        pool = pool_for(url)
        exchange = await pool.request(b"POST", b"/v1/x", [], b"{}")
        assert await exchange.next_chunk()
        exchange.close()
        await asyncio.wait_for(server.closed_by_peer.wait(), 5)
        assert pool.open_connections == 0
        await pool.aclose()


async def test_connections_are_bounded() -> None:
    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await read_request(reader)
            await asyncio.sleep(0.05)
            writer.write(answer(body))
            await writer.drain()

    async with raw_server(slow_echo) as (server, url):
        pool = pool_for(url, max_connections=2)
        results = await asyncio.gather(*(read_all(pool, str(i).encode()) for i in range(6)))
        await pool.aclose()
    assert sorted(body for _status, body in results) == [str(i).encode() for i in range(6)]
    assert server.most_open <= 2


async def test_request_lost_on_a_kept_alive_connection_is_sent_again() -> None:
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        writer.write(answer(body))
        await writer.drain()
        await read_request(reader)  # the next request on this connection: dropped unanswered

    async with raw_server(answer_once) as (server, url):
        pool = pool_for(url)
        assert await read_all(pool, b"first") == (200, b"first")
        assert await read_all(pool, b"second") == (200, b"second")
        await pool.aclose()
    assert server.connections == 2
