"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic Messages API).

Errors on these routes come in Anthropic's shape (``{"type": "error", "error": {"type",
"message"}}``), so the ``anthropic`` client raises its own error classes; the body is
therefore parsed here rather than by FastAPI (whose errors use the OpenAI envelope).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from inference_server.anthropic.messages import StopWatch, collect, error_body, stream_events
from inference_server.anthropic.translate import to_chat_request
from inference_server.deps import GenerationDep, SettingsDep
from inference_server.errors import InferenceError
from inference_server.generation.routes import CLIENT_CLOSED_REQUEST, SSE_HEADERS
from inference_server.generation.service import unless_disconnected
from shared_schemas.anthropic import (
    AnthropicError,
    CountTokensRequest,
    CountTokensResponse,
    MessagesRequest,
    MessagesResponse,
)
from shared_schemas.errors import error_responses

router = APIRouter(tags=["anthropic"])
_Model = TypeVar("_Model", bound=BaseModel)
_ERRORS: dict[int | str, dict[str, Any]] = {
    # Refused before the route (token, media type): the service's envelope.
    **error_responses(401, 415),
    **{
        status: {"model": AnthropicError, "description": "Error in Anthropic's shape"}
        for status in (400, 404, 422, 429, 500, 503)
    },
}


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _anthropic_error(exc: InferenceError) -> JSONResponse:
    headers = {k: v for k, v in (exc.headers or {}).items()}
    return JSONResponse(error_body(exc.status, exc.message), exc.status, headers=headers)


async def _parse(request: Request, model: type[_Model]) -> _Model | JSONResponse:
    try:
        return model.model_validate(json.loads(await request.body()))
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        else:
            message = "the request body is not valid JSON"
        return JSONResponse(error_body(400, message), 400)


@router.post(
    "/v1/messages",
    response_model=MessagesResponse,
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
    summary="Anthropic Messages (stream or not)",
    description=(
        "Anthropic-compatible: system, messages with text and image blocks, max_tokens, "
        "temperature, top_p, stop_sequences, stream (Anthropic's event sequence), metadata. "
        "tools, tool_choice, top_k and extended thinking are refused by name."
    ),
    openapi_extra=_body_doc(MessagesRequest),
)
async def messages(request: Request, service: GenerationDep, settings: SettingsDep) -> Response:
    parsed = await _parse(request, MessagesRequest)
    if isinstance(parsed, JSONResponse):
        return parsed
    try:
        generation = await service.start_chat(to_chat_request(parsed))
    except InferenceError as exc:
        return _anthropic_error(exc)
    watch = StopWatch(parsed.stop_sequences or [])
    if parsed.stream:
        events = stream_events(generation, watch, settings.keepalive_interval_s)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
    try:
        reply = await unless_disconnected(request.receive, generation, collect(generation, watch))
    except InferenceError as exc:
        return _anthropic_error(exc)
    finally:
        await generation.close()
    if reply is None:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return JSONResponse(reply.model_dump(mode="json"))


@router.post(
    "/v1/messages/count_tokens",
    response_model=CountTokensResponse,
    responses=_ERRORS,
    summary="Anthropic token count of a Messages request",
    openapi_extra=_body_doc(CountTokensRequest),
)
async def count_tokens(request: Request, service: GenerationDep) -> Response:
    parsed = await _parse(request, CountTokensRequest)
    if isinstance(parsed, JSONResponse):
        return parsed
    try:
        count = await service.count_chat_tokens(to_chat_request(parsed))
    except InferenceError as exc:
        return _anthropic_error(exc)
    return JSONResponse(CountTokensResponse(input_tokens=count).model_dump())
