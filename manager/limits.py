"""Request body cap for every route: 413 in the envelope, before the body is parsed."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from manager.errors import PayloadTooLargeError
from shared_schemas.service_errors import send_envelope


def _too_large_body(limit: int) -> dict[str, Any]:
    return PayloadTooLargeError(
        f"the request body is larger than {limit} bytes",
        details={"limit_bytes": limit},
        resolution_steps=["Send a smaller request or raise MODEL_MANAGER_MAX_BODY_BYTES."],
    ).body()


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes, by ``Content-Length`` or by counting as they come."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await send_envelope(send, 413, _too_large_body(self.limit))
                return
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not refused:
                    refused = True
                    if not started:
                        await send_envelope(send, 413, _too_large_body(self.limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # The route saw the body end early (a disconnect) after we refused it.
            if not refused:
                raise
