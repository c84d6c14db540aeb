"""``/v1/*``: OpenAI requests forwarded to the inference server as a byte stream.

``GET /v1/models`` is not forwarded: it is the manager's merged catalog (``catalog.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from manager.deps import HttpDep, MetricsDep, SettingsDep
from manager.proxy.forward import open_unless_disconnected, stream_back
from shared_schemas.errors import error_responses

router = APIRouter(tags=["openai"])

CLIENT_CLOSED_REQUEST = 499

PROXY_ERRORS = error_responses(400, 401, 404, 413, 415, 422, 429, 500, 503)
DESCRIPTION = (
    "Forwarded unchanged to the inference server; the answer (JSON or an SSE stream) is "
    "streamed back as it arrives. See the inference server's OpenAPI for the body schema."
)


async def _forward(
    request: Request, path: str, http: HttpDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    upstream = await open_unless_disconnected(http, request, path, settings, metrics)
    if upstream is None:  # the client went away; nobody reads this
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return stream_back(upstream, metrics)


@router.post("/v1/chat/completions", responses=PROXY_ERRORS, description=DESCRIPTION)
async def chat_completions(
    request: Request, http: HttpDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    return await _forward(request, "/v1/chat/completions", http, settings, metrics)


@router.post("/v1/completions", responses=PROXY_ERRORS, description=DESCRIPTION)
async def completions(
    request: Request, http: HttpDep, settings: SettingsDep, metrics: MetricsDep
) -> Response:
    return await _forward(request, "/v1/completions", http, settings, metrics)
