"""Errors in Anthropic's shape on the Messages routes, from either process.

Clients of Anthropic's API (its SDKs, Claude Code) read ``{"type": "error", "error":
{"type", "message"}}``; everything else modelyard answers uses the one envelope. Rather than
a second error path through every middleware and handler, ``AnthropicErrorShape`` rewrites
the envelope on its way out of ``/v1/messages`` and the paths under it: the auth gate's 401,
the Host check's 403, the body cap's 413, validation errors, a model that is not there, the
manager's 503 when the inference server is down. The status is kept; modelyard's ``code``
travels as ``error.details.error_code`` (where Anthropic's SDK reads a code). A body that is
in Anthropic's shape already (the inference server's, passed on by the manager) goes out
unchanged, and so does every answer below 400.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.observability import current_request_id
from shared_schemas.anthropic import ErrorObject, ErrorResponse

MESSAGES_PATH = "/v1/messages"

# Anthropic's error types by HTTP status.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def is_messages_path(path: str) -> bool:
    return path == MESSAGES_PATH or path.startswith(MESSAGES_PATH + "/")


def error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status."""
    if status in _TYPES:
        return _TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error(
    status: int, message: str, code: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    error = ErrorObject(
        type=error_type(status),
        message=message,
        details={"error_code": code} if code else None,
    )
    body = ErrorResponse(error=error, request_id=request_id)
    return body.model_dump(exclude_none=True)


def from_envelope(status: int, body: Any, request_id: str | None = None) -> dict[str, Any] | None:
    """Anthropic's shape of an envelope body; None when ``body`` is not an envelope (already
    Anthropic's, or something else to leave alone)."""
    if not isinstance(body, dict) or body.get("type") == "error":
        return None
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    code = error.get("code")
    return anthropic_error(
        status, error["message"], code if isinstance(code, str) else None, request_id
    )


def error_event(body: dict[str, Any]) -> bytes:
    """An SSE ``error`` event (a stream that fails after it started)."""
    return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class AnthropicErrorShape:
    """ASGI middleware: error answers on the Messages paths in Anthropic's shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_messages_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        parts: list[bytes] = []

        async def reshaping_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = _header(headers, b"content-type") or b""
                if message["status"] >= 400 and content_type.startswith(b"application/json"):
                    held = message
                    return
                await send(message)
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await _send_reshaped(send, held, b"".join(parts))

        await self.app(scope, receive, reshaping_send)


async def _send_reshaped(send: Send, start: Message, raw: bytes) -> None:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    reshaped = from_envelope(start["status"], body, current_request_id())
    data = raw if reshaped is None else json.dumps(reshaped).encode()
    headers.append((b"content-length", str(len(data)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})
