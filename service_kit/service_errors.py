"""What both processes do with errors: a base exception, the handlers, the bearer-token gate.

Each process derives its own tree from ``ServiceError`` (setting ``src``) and calls
``install_error_handlers(app, src)`` once. Every failure then leaves as the one envelope:

- a ``ServiceError`` with its own status, code, details and headers;
- a request validation error: 400 ``invalid_request`` with ``param`` naming the field (OpenAI
  answers 400, so the official client raises ``BadRequestError``); 400
  ``unsupported_parameter`` for a field the request model refuses;
- a body that is not JSON: 400 ``invalid_json``; an unknown route or method: 404 / 405;
- anything else: 500 ``internal_error`` with the traceback in the log, never in the response.

``JSONContentTypeMiddleware`` answers 415 ``unsupported_media_type`` to a request body that is
not declared as JSON, and ``BodyLimitMiddleware`` 413 ``PAYLOAD_TOO_LARGE`` to one over the
cap, before any route reads it.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_schemas.errors import ErrorSource, envelope, status_type

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of each process's exception tree; subclasses set ``status`` and ``code``."""

    status: ClassVar[int] = 500
    code: str = "internal_error"
    type: ClassVar[str | None] = None
    src: ClassVar[ErrorSource | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        details: dict[str, Any] | None = None,
        resolution_steps: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.details = details or {}
        self.resolution_steps = resolution_steps or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return envelope(
            self.message,
            type=self.type or status_type(self.status),
            code=self.code,
            param=self.param,
            src=self.src,
            details=self.details,
            resolution_steps=self.resolution_steps,
        )

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


# Validation errors answered as 400 ``unsupported_parameter``: a field the request model does
# not know (``extra="forbid"``) or a value it refuses by name.
UNSUPPORTED_ERROR_TYPES = frozenset({"extra_forbidden", "unsupported_parameter"})


def _validation_param(loc: Iterable[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def validation_envelope(exc: RequestValidationError, src: ErrorSource) -> dict[str, Any]:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return envelope(
            "the request body is not valid JSON", code="invalid_json", src=src, details={}
        )
    param = _validation_param(first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    code = "invalid_request"
    if first.get("type") in UNSUPPORTED_ERROR_TYPES:
        code = "unsupported_parameter"
        if first.get("type") == "extra_forbidden":
            message = "this server does not support this parameter"
    if param:
        message = f"{param}: {message}"
    details = {"errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]}
    return envelope(message, code=code, param=param, src=src, details=details)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path. Starlette's 405 names only the methods
    of the first route that matched the path, and several routes may share one (GET and
    DELETE of one resource), so each method is tried against the app's routes."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


def install_error_handlers(app: FastAPI, src: ErrorSource) -> None:
    """Map every exception the app can raise to the envelope."""

    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        response = exc.response()
        # The response's status, not the class's: an error passed on from another service
        # keeps the status it was answered with.
        if response.status_code >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return response

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(validation_envelope(exc, src), status_code=400)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        body = envelope(str(exc.detail), type=status_type(exc.status_code), code=code, src=src)
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        body = envelope("internal error", type="server_error", code="internal_error", src=src)
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


async def send_envelope(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """Answer straight from ASGI middleware (before any route runs)."""
    data = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})


class BearerAuthMiddleware:
    """Every HTTP route but ``open_paths`` needs ``Authorization: Bearer <token>``, or
    ``x-api-key: <token>`` (the header Anthropic's clients send).

    The scheme matches in any case (``bearer`` too, RFC 7235); the token comparison is
    constant-time; the token is never logged. CORS preflights (``OPTIONS`` with
    ``Access-Control-Request-Method``) pass, so browsers can ask before they send it.
    """

    def __init__(
        self, app: ASGIApp, *, token: str, src: ErrorSource, open_paths: Iterable[str]
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._src: ErrorSource = src
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open or _is_preflight(scope):
            await self.app(scope, receive, send)
            return
        supplied = b""
        api_key: bytes | None = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                supplied = value
            elif name == b"x-api-key":
                api_key = value
        # The scheme is case-insensitive (RFC 7235), the credentials are compared exactly.
        scheme, _, credentials = supplied.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(
            credentials.lstrip(b" "), self._token
        ):
            await self.app(scope, receive, send)
            return
        if api_key is not None and hmac.compare_digest(api_key, self._token):
            await self.app(scope, receive, send)
            return
        message = "missing bearer token" if not (supplied or api_key) else "invalid bearer token"
        body = envelope(
            message,
            type="authentication_error",
            code="INVALID_TOKEN",
            src=self._src,
            resolution_steps=[
                "Send the header 'Authorization: Bearer <token>' (or 'x-api-key: <token>')."
            ],
        )
        await send_envelope(send, 401, body, {"WWW-Authenticate": "Bearer"})


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers


class JSONContentTypeMiddleware:
    """A POST, PUT or PATCH that carries a body must declare it JSON, else 415 in the envelope.

    Requests without a body pass (routes whose body is optional, or that take none), and so do
    paths under ``exempt_prefixes`` (for a future upload route, say).
    """

    def __init__(
        self, app: ASGIApp, *, src: ErrorSource, exempt_prefixes: Iterable[str] = ()
    ) -> None:
        self.app = app
        self._src: ErrorSource = src
        self._exempt = tuple(exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in BODY_METHODS
            or (self._exempt and scope["path"].startswith(self._exempt))
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if not _has_body(headers) or is_json_media_type(content_type):
            await self.app(scope, receive, send)
            return
        shown = content_type[:100] or "none"
        body = envelope(
            f"the request body must be JSON (Content-Type: application/json), not {shown!r}",
            code="unsupported_media_type",
            src=self._src,
            details={"content_type": content_type[:100] or None},
            resolution_steps=["Send the body as JSON with 'Content-Type: application/json'."],
        )
        await send_envelope(send, 415, body)


def _is_preflight(scope: Scope) -> bool:
    if scope.get("method") != "OPTIONS":
        return False
    return any(name == b"access-control-request-method" for name, _ in scope.get("headers", []))


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413 in the envelope, by ``Content-Length`` or by
    counting as they come (chunked). ``setting`` names the variable that raises the cap."""

    def __init__(self, app: ASGIApp, *, limit: int, src: ErrorSource, setting: str) -> None:
        self.app = app
        self.limit = limit
        self._src: ErrorSource = src
        self._setting = setting

    def _too_large(self) -> dict[str, Any]:
        return envelope(
            f"the request body is larger than {self.limit} bytes",
            type=status_type(413),
            code="PAYLOAD_TOO_LARGE",
            src=self._src,
            details={"limit_bytes": self.limit},
            resolution_steps=[f"Send a smaller request or raise {self._setting}."],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await send_envelope(send, 413, self._too_large())
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
                        await send_envelope(send, 413, self._too_large())
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
