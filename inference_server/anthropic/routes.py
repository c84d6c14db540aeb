"""Anthropic Messages routes: thin; the translation is in ``translate.py``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from inference_server.anthropic import answer
from inference_server.deps import GenerationDep, SettingsDep
from inference_server.generation.replies import whole_answer
from service_kit.sse import SSE_CONTENT, event_stream
from shared_schemas.anthropic import (
    CountTokensRequest,
    CountTokensResponse,
    ErrorResponse,
    Message,
    MessagesRequest,
)

router = APIRouter(tags=["anthropic"])

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": "Error in Anthropic's shape"}
    for status in (400, 401, 404, 413, 415, 429, 500, 503)
}


@router.post(
    "/v1/messages",
    response_model=Message,
    responses={**_ERRORS, 200: {"content": SSE_CONTENT}},
    summary="Anthropic Messages (stream or not)",
    description=(
        "Anthropic-compatible: system, text and image blocks (images for vision-language "
        "models), tools with tool_use / tool_result blocks, tool_choice, max_tokens, "
        "temperature, top_p, top_k, stop_sequences (the answer names the one that matched), "
        "stream (Anthropic's event sequence). Extended thinking is refused. Errors come in "
        "Anthropic's shape. The key may be sent as x-api-key."
    ),
)
async def create_message(
    body: MessagesRequest, request: Request, service: GenerationDep, settings: SettingsDep
) -> Message | Response:
    generation = await answer.start(service, body)
    if body.stream:
        events = answer.events(generation, body, settings.keepalive_interval_s)
        return event_stream(events)
    return await whole_answer(request.receive, generation, answer.whole(generation, body))


@router.post(
    "/v1/messages/count_tokens",
    response_model=CountTokensResponse,
    responses=_ERRORS,
    summary="Count a Messages prompt's tokens",
    description="The prompt's tokens by the model's own chat template, images included "
    "(the model is loaded).",
)
async def count_tokens(body: CountTokensRequest, service: GenerationDep) -> CountTokensResponse:
    tokens = await service.count_chat_tokens(answer.prompt_request(body))
    return CountTokensResponse(input_tokens=tokens)
