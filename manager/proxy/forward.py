"""Forward one request to the inference server and stream the answer back, byte for byte.

This is a plain ASGI application (``Forwarder``), not a FastAPI handler: the proxy sits on
every token of every stream, so it skips dependency resolution, the ``Request`` object and
``StreamingResponse`` (whose task group costs more than the forwarding itself).

- The body is read once (the app's body cap has bounded it already) and sent unchanged over
  the proxy's own connection pool (``upstream.py``).
- Connection failures before any response (refused, connect timeout, a new connection closed
  unanswered) are retried with tenacity, bounded; then 503 ``SERVICE_UNAVAILABLE`` in the
  envelope with ``Retry-After``. An answer that cannot be read (not HTTP, cut off before its
  headers) is 502 ``BAD_GATEWAY``.
- The response is streamed as it arrives (no re-encoding, no buffering: what has arrived is
  written at once, several chunks in one write when they came while the last write was under
  way) with ``X-Accel-Buffering: no``. If the upstream drops mid-stream, an event stream gets
  a final ``data: {"error": ...}`` frame.
- A 404 ``model_not_found`` for a model in the library, in a folder the inference server does
  not read, is answered by the manager: 404 ``model_not_visible_to_inference``, naming the
  folders and how to make them agree (``library/visibility.py``), not advice to download it.
- With several inference servers (``manager/fleet``) the body's ``model`` field is read to
  route the request (``fleet/routing.py``); a server that refuses the connection is marked
  down and the next choice is tried at once; when none can serve, 503 with ``Retry-After``.
  With one server nothing is parsed.
- One watcher per request listens for the client's disconnect, before the first byte (a
  non-streamed completion sends nothing until it is done) and during the stream; it cancels
  the forwarding, and the upstream connection is closed, so the inference server stops
  generating.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from manager.errors import ManagerError, ServiceUnavailableError, UpstreamError
from manager.fleet.fleet import Fleet, no_route_error
from manager.fleet.routing import NoRoute
from manager.library.visibility import is_model_not_found, requested_model
from manager.metrics import ManagerMetrics
from manager.proxy.upstream import (
    Exchange,
    UpstreamBroken,
    UpstreamClosed,
    UpstreamPool,
    UpstreamUnreachable,
)
from manager.settings import ManagerSettings
from service_kit.observability import current_request_id
from service_kit.service_errors import send_envelope
from shared_schemas.errors import envelope

logger = logging.getLogger(__name__)

# Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those the
# proxy sets again.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# ``expect``: the body has been read already, so there is nothing to continue. ``origin``:
# the manager has checked it; the inference server, which checks it too, is not answering the
# browser but the manager (a UI origin allowed here need not be listed there).
REQUEST_DROP = HOP_BY_HOP | {
    b"authorization",
    b"x-api-key",
    b"cookie",
    b"x-request-id",
    b"expect",
    b"origin",
}
RESPONSE_DROP = HOP_BY_HOP | {b"date", b"server", b"x-request-id"}

# Failures before any response: nothing was generated, so the request can be sent again.
RETRYABLE = (UpstreamUnreachable, UpstreamClosed)

CLIENT_CLOSED_REQUEST = 499


def request_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The client's headers minus hop-by-hop and credentials, plus the request id."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in REQUEST_DROP]
    request_id = current_request_id()
    if request_id:
        headers.append((b"x-request-id", request_id.encode("latin-1")))
    return headers


def response_headers(upstream: Exchange) -> list[tuple[bytes, bytes]]:
    headers = [(k, v) for k, v in upstream.headers if k not in RESPONSE_DROP]
    headers.append((b"x-accel-buffering", b"no"))
    return headers


async def open_upstream(
    pool: UpstreamPool,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    settings: ManagerSettings,
    metrics: ManagerMetrics,
) -> Exchange:
    """Send the request upstream and return the exchange with its body not yet read."""

    async def send() -> Exchange:
        return await pool.request(b"POST", target, headers, body)

    try:
        return await _with_retries(send, settings, metrics)
    except UpstreamBroken as exc:  # after the request went out: a broken or garbled answer
        metrics.proxy_upstream_errors.labels("invalid").inc()
        raise UpstreamError(
            "the inference server's answer could not be read",
            details={"inference_url": settings.inference_url, "reason": exc.reason},
            resolution_steps=["Check the inference server's log for this request id."],
        ) from exc


async def _with_retries(
    send: Callable[[], Awaitable[Exchange]],
    settings: ManagerSettings,
    metrics: ManagerMetrics,
) -> Exchange:
    try:  # the common case, without the retry machinery
        return await send()
    except RETRYABLE as exc:
        if settings.proxy_connect_retries == 0:
            raise _unreachable(settings, metrics, exc) from exc
        metrics.proxy_retries.inc()
        await asyncio.sleep(settings.proxy_retry_wait_s)

    def count_retry(_state: RetryCallState) -> None:
        metrics.proxy_retries.inc()

    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE),
            stop=stop_after_attempt(settings.proxy_connect_retries),
            wait=wait_exponential(multiplier=settings.proxy_retry_wait_s * 2, max=2.0),
            before_sleep=count_retry,
            reraise=True,
        ):
            with attempt:
                return await send()
    except RETRYABLE as exc:
        raise _unreachable(settings, metrics, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises


def _unreachable(
    settings: ManagerSettings,
    metrics: ManagerMetrics,
    exc: UpstreamUnreachable | UpstreamClosed,
) -> ServiceUnavailableError:
    metrics.proxy_upstream_errors.labels("unreachable").inc()
    return ServiceUnavailableError(
        "the inference server is not reachable",
        headers={"Retry-After": "2"},
        details={"inference_url": settings.inference_url, "reason": exc.reason},
        resolution_steps=[
            "Start the inference server (python -m inference_server, or the Procfile).",
            "Check MODEL_MANAGER_INFERENCE_URL.",
        ],
    )


def model_of(body: bytes) -> str | None:
    """The ``model`` field of a request body (only read to route among several servers)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else None


ErrorFrame = Callable[[str], bytes]


def openai_error_frame(message: str) -> bytes:
    """The last frame of an OpenAI stream the inference server dropped."""
    body = envelope(message, type="server_error", code="upstream_disconnected", src="manager")
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


class Forwarding:
    """One request's forwarding, cancelled by its watcher when the client goes away.

    ``forward(body)`` sends the body and relays the answer; a subclass that must read or
    change what passes (the Responses API's state) overrides it.
    """

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, path: str, error_frame: ErrorFrame
    ) -> None:
        state = scope["app"].state
        self.pool: UpstreamPool = state.upstream
        self.fleet: Fleet | None = state.fleet
        self.settings: ManagerSettings = state.settings
        self.metrics: ManagerMetrics = state.metrics
        self.scope = scope
        self.receive = receive
        self.send = send
        self.path = path
        self.error_frame = error_frame
        self.client_gone = False
        self.started = False

    async def run(self) -> None:
        body = await read_body(self.receive)
        if body is None:
            self.client_gone = True
            self.metrics.proxy_upstream_errors.labels("client_gone").inc()
            return
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch(task))
        try:
            await self.forward(body)
        except asyncio.CancelledError:
            if not self.client_gone:
                raise
            task.uncancel()  # our own cancellation, handled here
            self.metrics.proxy_upstream_errors.labels("client_gone").inc()
        finally:
            if not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _watch(self, task: asyncio.Task[Any]) -> None:
        while True:
            message: Message = await self.receive()
            if message["type"] == "http.disconnect":
                self.client_gone = True
                task.cancel()
                return

    async def forward(self, body: bytes) -> None:
        target = self.path.encode()
        query = self.scope.get("query_string", b"")
        if query:
            target += b"?" + query
        headers = request_headers(self.scope)
        try:
            upstream = await self.open(target, headers, body)
        except ManagerError as exc:
            await self.refuse(exc)
            return
        try:
            if upstream.status == 404:
                await self.relay_not_found(upstream, body)
            else:
                await self.relay(upstream)
        finally:
            upstream.close()  # no-op when the answer was read to the end (then it is reused)

    async def open(
        self, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Exchange:
        """Send the request to the inference server (to the one routing picks, when there are
        several) and return the exchange with its answer's body not yet read."""
        if self.fleet is None:
            return await open_upstream(
                self.pool, target, headers, body, self.settings, self.metrics
            )
        return await self._open_routed(self.fleet, target, headers, body)

    async def _open_routed(
        self, fleet: Fleet, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Exchange:
        """Several inference servers: send the request where the routing policy says; a server
        that cannot be connected to is marked down and the next choice is tried."""
        model = model_of(body)
        tried: tuple[str, ...] = ()
        while True:
            choice = fleet.route(model, exclude=tried)
            if isinstance(choice, NoRoute):
                self.metrics.proxy_upstream_errors.labels("unreachable").inc()
                raise no_route_error(choice, model)
            host = fleet.by_url[choice.url]
            host.in_flight += 1
            try:
                upstream = await host.upstream.request(b"POST", target, headers, body)
            except RETRYABLE as exc:
                host.in_flight -= 1
                fleet.mark_failed(host, exc.reason)
                self.metrics.proxy_retries.inc()
                tried = (*tried, host.url)
                continue
            except UpstreamBroken as exc:
                host.in_flight -= 1
                self.metrics.proxy_upstream_errors.labels("invalid").inc()
                raise UpstreamError(
                    "the inference server's answer could not be read",
                    details={"inference_url": host.url, "reason": exc.reason},
                ) from exc
            except BaseException:
                host.in_flight -= 1
                raise
            upstream.also_when_done(host.finished_one)
            return upstream

    async def refuse(self, exc: ManagerError) -> None:
        """Answer with the error instead of the inference server's answer."""
        logger.error("POST %s failed: %s", self.path, exc.message)
        await send_envelope(self.send, exc.status, exc.body(), exc.headers)

    async def relay_not_found(self, upstream: Exchange, body: bytes) -> None:
        """A 404 is read whole first: when the model it did not find is in the library, in a
        folder the inference server does not read, the manager's answer says so instead."""
        parts = []
        try:
            while chunk := await upstream.next_chunk():
                parts.append(chunk)
        except UpstreamBroken as exc:
            logger.warning("inference server dropped a response: %s", exc.reason)
            await self.refuse(UpstreamError("the inference server's answer could not be read"))
            return
        answer = b"".join(parts)
        library = getattr(self.scope["app"].state, "library", None)
        model = requested_model(body) if is_model_not_found(answer) else None
        explained = None
        try:
            explained = await library.not_visible(model) if library and model else None
        except Exception:  # the server's own answer is passed on
            logger.exception("could not tell why the inference server did not find %r", model)
        if explained is not None:
            await self.refuse(explained)
            return
        self.started = True
        start = {"type": "http.response.start", "status": 404}
        await self.send({**start, "headers": response_headers(upstream)})
        await self.send({"type": "http.response.body", "body": answer, "more_body": False})

    async def relay(self, upstream: Exchange) -> None:
        send = self.send
        self.started = True
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": response_headers(upstream),
            }
        )
        next_chunk = upstream.next_chunk
        try:
            while chunk := await next_chunk():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamBroken as exc:  # the caller closes the connection
            self.metrics.proxy_upstream_errors.labels("dropped").inc()
            logger.warning("inference server dropped a response: %s", exc.reason)
            if upstream.content_type == b"text/event-stream":
                frame = self.error_frame(
                    "the inference server closed the stream before it finished"
                )
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class Forwarder:
    """ASGI app: forward a request to ``path`` on the inference server. ``error_frame`` is
    the last event of a stream the inference server dropped, in the API's own shape;
    ``forwarding`` handles each request (``Forwarding``, or a subclass that reads what
    passes)."""

    def __init__(
        self,
        path: str,
        error_frame: ErrorFrame = openai_error_frame,
        forwarding: type[Forwarding] = Forwarding,
    ) -> None:
        self.path = path
        self.error_frame = error_frame
        self.forwarding = forwarding

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        forwarding = self.forwarding(scope, receive, send, self.path, self.error_frame)
        await forwarding.run()
        if forwarding.client_gone and not forwarding.started:
            # Nobody reads this; it records the outcome in the request metrics.
            with contextlib.suppress(Exception):
                await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST})
