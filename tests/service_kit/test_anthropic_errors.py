"""Errors in Anthropic's shape on the Messages paths, and nowhere else."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from service_kit.anthropic_errors import AnthropicErrorShape, error_type, from_envelope
from shared_schemas.errors import envelope


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (415, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
    ],
)
def test_error_types(status: int, kind: str) -> None:
    assert error_type(status) == kind


def test_from_envelope() -> None:
    body = envelope("no such model", code="model_not_found", src="manager")
    assert from_envelope(404, body, "rid") == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": "no such model",
            "details": {"error_code": "model_not_found"},
        },
        "request_id": "rid",
    }
    already = {"type": "error", "error": {"type": "api_error", "message": "x"}}
    assert from_envelope(500, already) is None
    assert from_envelope(500, ["not", "an", "envelope"]) is None


async def failing(request: Request) -> JSONResponse:
    return JSONResponse(envelope("bad", code="invalid_request"), status_code=400)


async def fine(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/v1/messages", failing, methods=["POST"]),
            Route("/v1/messages/count_tokens", fine, methods=["POST"]),
            Route("/v1/chat/completions", failing, methods=["POST"]),
        ]
    )
    transport = httpx.ASGITransport(app=AnthropicErrorShape(app))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


async def test_middleware_reshapes_only_messages_errors() -> None:
    async with client() as http:
        reshaped = await http.post("/v1/messages")
        assert reshaped.status_code == 400
        assert reshaped.json()["type"] == "error"
        assert reshaped.json()["error"]["type"] == "invalid_request_error"
        assert int(reshaped.headers["content-length"]) == len(reshaped.content)
        untouched = await http.post("/v1/chat/completions")
        assert untouched.json()["error"]["code"] == "invalid_request"
        ok = await http.post("/v1/messages/count_tokens")
        assert ok.text == "ok"
        missing = await http.post("/v1/messages/batches")  # Starlette's own 404 is not JSON
        assert missing.status_code == 404
