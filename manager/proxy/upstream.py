"""The connections the proxy forwards completions over: HTTP/1.1 keep-alive to the inference
server, read by an asyncio protocol with httptools' parser (the one uvicorn uses).

The proxy sits on every token of every stream, so what it costs per relayed chunk is what
matters. With an HTTP client library the chunk passes through the library's stream reader, an
async iterator, a timeout rescheduled per read and a task wake-up, which was most of the
proxy's CPU per chunk. Here the parser's body callback appends the bytes to the exchange and
wakes the one reader if it waits; chunks that arrive while the reader is busy are handed over
together, as one write.

- ``UpstreamPool.request`` sends one request and returns the :class:`Exchange` once the
  response head has arrived; the body is read with ``Exchange.next_chunk`` (``b""`` at the
  end). A finished exchange returns its connection to the pool; ``Exchange.close`` aborts it
  (the inference server sees the disconnect and stops generating).
- Failures, by when they happen (``forward.py`` maps them to the envelope):

  ``UpstreamUnreachable``  the connection could not be made (refused, timeout, no such host)
  ``UpstreamClosed``       the connection closed before any byte of the answer (a kept-alive
                           connection the server had just closed, or a server that died)
  ``UpstreamBroken``       an answer that is not HTTP, cut off, or silent for longer than the
                           read timeout

  The first two are safe to retry: nothing was answered, so nothing was generated for the
  client. ``UpstreamBroken`` is not.
- Flow control: when the client reads slower than the server writes, at most
  ``HIGH_WATER`` bytes wait in the exchange before the connection stops reading, so the
  inference server feels the back-pressure.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from manager.settings import ManagerSettings

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
CONNECT_TIMEOUT_S = 5.0
# Idle connections are dropped well before the inference server's own keep-alive timeout, so
# the server rarely closes one under a request that is just being sent.
IDLE_TIMEOUT_S = 15.0


class UpstreamFailure(Exception):
    """A failure talking to the inference server; ``reason`` names it for logs and metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamUnreachable(UpstreamFailure):
    pass


class UpstreamClosed(UpstreamFailure):
    pass


class UpstreamBroken(UpstreamFailure):
    pass


@dataclass(frozen=True)
class Target:
    """Where the inference server is, from ``MODEL_MANAGER_INFERENCE_URL``."""

    host: str
    port: int
    base_path: bytes
    host_header: bytes
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        if not parts.hostname:
            raise ValueError(f"no host in {url!r}")
        port = parts.port or (443 if tls else 80)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return cls(
            host=parts.hostname,
            port=port,
            base_path=parts.path.rstrip("/").encode("ascii"),
            host_header=netloc.encode("ascii") if netloc.isascii() else netloc.encode("idna"),
            tls=tls,
        )


class Exchange:
    """One request and its answer on one connection."""

    def __init__(self, connection: _Connection, on_done: Callable[[], None]) -> None:
        self._connection = connection
        self._on_done = on_done
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._head: asyncio.Future[None] = connection.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._error: UpstreamFailure | None = None
        self._released = False

    @property
    def content_type(self) -> bytes:
        for name, value in self.headers:
            if name == b"content-type":
                return value.split(b";", 1)[0].strip().lower()
        return b""

    async def head(self) -> None:
        await self._head

    async def next_chunk(self) -> bytes:
        """The body bytes received since the last call (``b""`` at the end of the answer)."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                self._finish()
                return b""
            self._waiter = self._connection.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if len(self._chunks) == 1:
            data = self._chunks.popleft()
        else:
            data = b"".join(self._chunks)
            self._chunks.clear()
        if self._buffered > LOW_WATER and self._buffered - len(data) <= LOW_WATER:
            self._connection.resume()
        self._buffered -= len(data)
        return data

    def also_when_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` too when the exchange ends (read to the end, or closed)."""
        first = self._on_done

        def both() -> None:
            first()
            callback()

        self._on_done = both

    def close(self) -> None:
        """Abandon the answer: the connection is closed, not reused."""
        if not self._released:
            self._released = True
            self._connection.abort()
            self._on_done()

    # ---- fed by the connection ----------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = headers
        if not self._head.done():
            self._head.set_result(None)

    def _on_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._connection.pause()
        self._wake()

    def _on_complete(self) -> None:
        self._complete = True
        self._wake()

    def _on_error(self, error: UpstreamFailure) -> None:
        if self._complete:
            return
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved here: the caller may be gone already
        self._wake()

    def _finish(self) -> None:
        if not self._released:
            self._released = True
            self._connection.release()
            self._on_done()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; httptools calls ``on_*`` as it parses the answer."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answered = False  # a byte of the current answer has arrived
        self.last_read = 0.0
        self.idle_since = 0.0
        self.closed = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False

    # ---- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        self.answered = True
        if self.exchange is None:  # bytes nobody asked for: the connection is not usable
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroken(f"the answer is not valid HTTP ({exc})"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        self.pool._forget(self)
        if self.answered:
            self._fail(UpstreamBroken("the connection closed before the answer was complete"))
        else:
            self._fail(UpstreamClosed("the connection closed before any answer"))

    # ---- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.exchange is not None:
            self.exchange._on_head(self.parser.get_status_code(), self._headers)

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None:
            self.exchange._on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_timer()
        exchange = self.exchange
        if not self.parser.should_keep_alive():
            self.pool._forget(self)
            self.closed = True  # not reused; closed when released
        if exchange is not None:
            exchange._on_complete()

    # ---- used by the pool and the exchange ----------------------------------------------------

    def start(self, request: bytes, read_timeout_s: float, on_done: Callable[[], None]) -> Exchange:
        assert self.transport is not None
        self.exchange = Exchange(self, on_done)
        self.parser = httptools.HttpResponseParser(self)
        self._headers = []
        self.answered = False
        self.last_read = time.monotonic()
        self._arm_timer(read_timeout_s)
        self.transport.write(request)
        return self.exchange

    def release(self) -> None:
        """The answer was read to the end: keep the connection for the next request."""
        self.exchange = None
        if self.closed or self.transport is None or self.transport.is_closing():
            self.abort()
            return
        self.resume()
        self.idle_since = time.monotonic()
        self.pool._idle(self)

    def abort(self) -> None:
        self.closed = True
        self._cancel_timer()
        self.pool._forget(self)
        if self.transport is not None:
            self.transport.abort()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def _fail(self, error: UpstreamFailure) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange._on_error(error)

    # One timer per exchange, re-armed only when it fires: reading a chunk costs a clock read.
    def _arm_timer(self, timeout_s: float) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(timeout_s, self._check_timeout, timeout_s)

    def _check_timeout(self, timeout_s: float) -> None:
        self._timer = None
        if self.exchange is None:
            return
        if self._paused:  # the client is slow, not the server
            self._arm_timer(timeout_s)
            return
        silent = time.monotonic() - self.last_read
        if silent < timeout_s:
            self._timer = self.loop.call_later(timeout_s - silent, self._check_timeout, timeout_s)
            return
        self._fail(UpstreamBroken(f"no data from the inference server for {timeout_s:g} s"))
        self.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class UpstreamPool:
    """Keep-alive connections to one inference server, at most ``max_connections`` open."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        read_timeout_s: float,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.target = Target.from_url(url)
        self.read_timeout_s = read_timeout_s
        self._slots = asyncio.Semaphore(max_connections)
        self._idle_connections: list[_Connection] = []
        self._open: set[_Connection] = set()
        extra = extra_headers or {}
        self._extra = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in extra.items())
        self._ssl = ssl.create_default_context() if self.target.tls else None

    def _request_bytes(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> bytes:
        lines = [
            method + b" " + self.target.base_path + target + b" HTTP/1.1\r\n",
            b"host: " + self.target.host_header + b"\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            self._extra,
        ]
        lines.extend(name + b": " + value + b"\r\n" for name, value in headers)
        lines.append(b"\r\n")
        lines.append(body)
        return b"".join(lines)

    async def request(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Exchange:
        """Send the request (``target``: path and query); return once the answer's head has
        arrived. ``headers`` must already be free of hop-by-hop headers.

        A kept-alive connection that the server closed as the request went out answers
        nothing (the request was not taken): it is sent once more, on a new connection.
        """
        request = self._request_bytes(method, target, headers, body)
        for reuse in (True, False):
            await self._slots.acquire()
            try:
                connection, reused = await self._connection(reuse=reuse)
            except BaseException:
                self._slots.release()
                raise
            exchange = connection.start(request, self.read_timeout_s, self._slots.release)
            try:
                await exchange.head()
            except UpstreamClosed:
                exchange.close()
                if reused:
                    continue
                raise
            except BaseException:
                exchange.close()
                raise
            return exchange
        raise AssertionError("unreachable")  # pragma: no cover - the second try raises

    async def _connection(self, *, reuse: bool) -> tuple[_Connection, bool]:
        """An idle connection (when ``reuse``) or a new one, and whether it was reused."""
        now = time.monotonic()
        while reuse and self._idle_connections:
            connection = self._idle_connections.pop()
            if not connection.closed and now - connection.idle_since < IDLE_TIMEOUT_S:
                return connection, True
            connection.abort()
        loop = asyncio.get_running_loop()
        target = self.target
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _transport, connection = await loop.create_connection(
                    lambda: _Connection(self),
                    target.host,
                    target.port,
                    ssl=self._ssl,
                    server_hostname=target.host if self._ssl else None,
                )
        except TimeoutError as exc:
            raise UpstreamUnreachable("ConnectTimeout") from exc
        except OSError as exc:  # refused, unreachable, no such host, TLS failure
            raise UpstreamUnreachable(type(exc).__name__) from exc
        self._open.add(connection)
        return connection, False

    def _idle(self, connection: _Connection) -> None:
        self._idle_connections.append(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        with contextlib.suppress(ValueError):
            self._idle_connections.remove(connection)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle_connections.clear()


def make_upstream_pool(settings: ManagerSettings) -> UpstreamPool:
    """The pool to the configured inference server; call inside the running event loop."""
    headers = {}
    if settings.inference_api_key is not None:
        headers["authorization"] = f"Bearer {settings.inference_api_key.get_secret_value()}"
    return UpstreamPool(
        settings.inference_url,
        max_connections=settings.proxy_max_connections,
        read_timeout_s=settings.proxy_read_timeout_s,
        extra_headers=headers,
    )
