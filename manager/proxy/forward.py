"""Forward one request to the inference server and stream the answer back, byte for byte.

- The body is read once (the app's body cap has bounded it already) and sent unchanged.
- Connection failures before any response (refused, connect timeout, a pooled connection the
  server closed) are retried with tenacity, bounded; then 503 ``SERVICE_UNAVAILABLE`` in the
  envelope with ``Retry-After``.
- The response is streamed as it arrives (``aiter_raw``: no re-encoding, no buffering) with
  ``X-Accel-Buffering: no``. If the upstream drops mid-stream, an event stream gets a final
  ``data: {"error": ...}`` frame; the upstream response is always closed, so a client that
  disconnects cancels the generation upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import Request
from fastapi.responses import StreamingResponse
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from manager.errors import ServiceUnavailableError
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings
from shared_schemas.errors import envelope
from shared_schemas.observability import current_request_id

logger = logging.getLogger(__name__)

# Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those httpx
# or the server sets again.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
REQUEST_DROP = HOP_BY_HOP | {"authorization", "cookie", "x-request-id"}
RESPONSE_DROP = HOP_BY_HOP | {"date", "server", "x-request-id"}

RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


def _request_headers(request: Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in REQUEST_DROP}
    request_id = current_request_id()
    if request_id:
        headers["x-request-id"] = request_id
    return headers


async def open_upstream(
    client: httpx.AsyncClient,
    request: Request,
    body: bytes,
    path: str,
    settings: ManagerSettings,
    metrics: ManagerMetrics,
) -> httpx.Response:
    """Send the request upstream and return the response with its body not yet read."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    upstream = client.build_request(
        request.method,
        f"{path}?{query}" if query else path,
        headers=_request_headers(request),
        content=body,
    )

    try:  # the common case, without the retry machinery
        return await client.send(upstream, stream=True)
    except RETRYABLE as exc:
        if settings.proxy_connect_retries == 0:
            raise _unreachable(client, metrics, exc) from exc
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
                return await client.send(upstream, stream=True)
    except RETRYABLE as exc:
        raise _unreachable(client, metrics, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises


def _unreachable(
    client: httpx.AsyncClient, metrics: ManagerMetrics, exc: Exception
) -> ServiceUnavailableError:
    metrics.proxy_upstream_errors.labels("unreachable").inc()
    return ServiceUnavailableError(
        "the inference server is not reachable",
        headers={"Retry-After": "2"},
        details={"inference_url": str(client.base_url), "reason": type(exc).__name__},
        resolution_steps=[
            "Start the inference server (python -m inference_server, or the Procfile).",
            "Check MODEL_MANAGER_INFERENCE_URL.",
        ],
    )


async def open_unless_disconnected(
    client: httpx.AsyncClient,
    request: Request,
    path: str,
    settings: ManagerSettings,
    metrics: ManagerMetrics,
) -> httpx.Response | None:
    """``open_upstream``, abandoned (and the upstream request closed, so the inference server
    cancels the generation) if the client goes away before the first byte comes back.

    A non-streamed completion sends nothing until it is done, so without this a client that
    gives up would leave the generation running to the end.
    """
    body = await request.body()  # already capped by BodyLimitMiddleware
    opening = asyncio.ensure_future(open_upstream(client, request, body, path, settings, metrics))
    watching = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({opening, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not opening.done():
            opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await opening
            # ... unless it completed while being cancelled: then close what it opened.
            if not opening.cancelled() and opening.exception() is None:
                await opening.result().aclose()
        if not watching.done():
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
    if opening.cancelled():
        metrics.proxy_upstream_errors.labels("client_gone").inc()
        return None
    return opening.result()


async def _wait_for_disconnect(request: Request) -> None:
    """Return when the client disconnects (the body has been read by then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _response_headers(upstream: httpx.Response) -> dict[str, str]:
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in RESPONSE_DROP}
    headers["x-accel-buffering"] = "no"
    return headers


def _error_frame(message: str) -> bytes:
    body = envelope(message, type="server_error", code="upstream_disconnected", src="manager")
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def _relay(upstream: httpx.Response, metrics: ManagerMetrics) -> AsyncIterator[bytes]:
    event_stream = upstream.headers.get("content-type", "").startswith("text/event-stream")
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError as exc:
        metrics.proxy_upstream_errors.labels("dropped").inc()
        logger.warning("inference server dropped a response: %s", type(exc).__name__)
        if event_stream:
            yield _error_frame("the inference server closed the stream before it finished")
    finally:
        await upstream.aclose()


def stream_back(upstream: httpx.Response, metrics: ManagerMetrics) -> StreamingResponse:
    return StreamingResponse(
        _relay(upstream, metrics),
        status_code=upstream.status_code,
        headers=_response_headers(upstream),
    )
