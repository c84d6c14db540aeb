"""The HTTP protocol both processes serve with: uvicorn's httptools protocol, plus a deadline
for the request head and the connection limit answered in the envelope.

uvicorn closes a keep-alive connection that stays idle between requests
(``timeout_keep_alive``), but not one that has not finished sending its request head: a
client that connects and sends nothing, or sends its headers a byte at a time, holds the
connection (a file descriptor) for as long as it likes, and about a thousand of them use up
the default file limit (1,024) and starve every other client. Here a timer starts when a
connection opens, and again when the next request on it begins; if the head is not complete
``header_timeout_s`` later, the connection is closed. A head is at most a few kilobytes, so a
short deadline harms no client.

uvicorn's ``limit_concurrency`` (connections plus running requests) answers a plain-text 503
when exceeded; this protocol answers it in the error envelope, with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service_kit.service_errors import send_envelope
from shared_schemas.errors import ErrorSource, envelope

logger = logging.getLogger(__name__)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a request-head deadline and an envelope for the 503."""

    header_timeout_s: float = 10.0
    src: ErrorSource | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        # The limit is checked here, so that the refusal is answered in the envelope.
        self.connection_limit = self.limit_concurrency
        self.limit_concurrency = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        limit = self.connection_limit
        if limit is None or (len(self.connections) < limit and len(self.tasks) < limit):
            super().on_headers_complete()
            return
        logger.warning("connection limit (%d) reached: answering 503", limit)
        app, self.app = self.app, self._at_limit
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    async def _at_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = envelope(
            "the server is at its connection limit; try again shortly",
            type="service_unavailable_error",
            code="SERVICE_UNAVAILABLE",
            src=self.src,
            details={"limit_concurrency": self.connection_limit},
        )
        await send_envelope(send, 503, body, {"Retry-After": "1", "Connection": "close"})

    def _start_head_timer(self) -> None:
        if self._head_timer is None:  # a head already under way keeps its deadline
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            logger.debug("request head not complete in %.1f s: closing", self.header_timeout_s)
            self.transport.close()


def guarded_protocol(*, src: ErrorSource, header_timeout_s: float) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``http=``) for one process."""

    class Protocol(GuardedHttpToolsProtocol):
        pass

    Protocol.src = src
    Protocol.header_timeout_s = header_timeout_s
    return Protocol
