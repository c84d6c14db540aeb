"""``/v1/*``: OpenAI and Anthropic requests forwarded to the inference server as a byte stream.

``GET /v1/models`` is not forwarded: it is the manager's merged catalog (``catalog.py``).
``/v1/responses`` is not forwarded byte for byte either: the manager keeps stored responses
(``manager/responses``).

The routes declare the operations (OpenAPI, 405 for other methods); the work is done by the
plain ASGI ``Forwarder``, which the route hands the request to untouched.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from manager.proxy.forward import Forwarder
from service_kit.anthropic_errors import anthropic_error, error_event
from shared_schemas.anthropic import ErrorResponse
from shared_schemas.errors import error_responses

router = APIRouter(tags=["openai"])

PROXY_ERRORS = error_responses(400, 401, 404, 413, 415, 422, 429, 500, 503)
DESCRIPTION = (
    "Forwarded unchanged to the inference server; the answer (JSON or an SSE stream) is "
    "streamed back as it arrives. See the inference server's OpenAPI for the body schema."
)
ANTHROPIC_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": "Error in Anthropic's shape"}
    for status in (400, 401, 403, 404, 413, 415, 429, 500, 503)
}


def anthropic_error_frame(message: str) -> bytes:
    """The last event of an Anthropic stream the inference server dropped."""
    return error_event(anthropic_error(502, message, "upstream_disconnected"))


CHAT = Forwarder("/v1/chat/completions")
COMPLETIONS = Forwarder("/v1/completions")
EMBEDDINGS = Forwarder("/v1/embeddings")
MESSAGES = Forwarder("/v1/messages", anthropic_error_frame)
COUNT_TOKENS = Forwarder("/v1/messages/count_tokens", anthropic_error_frame)
FORWARDED = {f.path: f for f in (CHAT, COMPLETIONS, EMBEDDINGS, MESSAGES, COUNT_TOKENS)}


class Forwarded(Response):
    """A response that is the forwarder's answer: the request goes to it as it came."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.forwarder(scope, receive, send)


@router.post("/v1/chat/completions", responses=PROXY_ERRORS, description=DESCRIPTION)
async def chat_completions() -> Response:
    return Forwarded(CHAT)


@router.post("/v1/completions", responses=PROXY_ERRORS, description=DESCRIPTION)
async def completions() -> Response:
    return Forwarded(COMPLETIONS)


@router.post("/v1/embeddings", responses=PROXY_ERRORS, description=DESCRIPTION)
async def embeddings() -> Response:
    return Forwarded(EMBEDDINGS)


@router.post(
    "/v1/messages",
    tags=["anthropic"],
    responses=ANTHROPIC_ERRORS,
    description=DESCRIPTION + " Anthropic Messages; errors in Anthropic's shape.",
)
async def messages() -> Response:
    return Forwarded(MESSAGES)


@router.post(
    "/v1/messages/count_tokens",
    tags=["anthropic"],
    responses=ANTHROPIC_ERRORS,
    description=DESCRIPTION + " Anthropic token counting; errors in Anthropic's shape.",
)
async def count_tokens() -> Response:
    return Forwarded(COUNT_TOKENS)


class ForwardedPaths:
    """ASGI middleware: a POST to a forwarded path goes to its forwarder without routing.

    The router would find the same forwarder, after matching the path against every route;
    on the proxy, which carries every completion, that costs more than the forwarding.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            forwarder = FORWARDED.get(scope["path"])
            if forwarder is not None:
                scope["route"] = forwarder  # for the request metrics' route label
                await forwarder(scope, receive, send)
                return
        await self.app(scope, receive, send)
