"""OpenAI generation routes: thin, all work is in the service and formatting modules."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from inference_server.deps import GenerationDep, SettingsDep
from inference_server.generation.formatting import (
    chat_response,
    completion_response,
    stream_frames,
)
from inference_server.generation.replies import whole_answer
from service_kit.sse import SSE_CONTENT, event_stream
from shared_schemas.errors import error_responses
from shared_schemas.openai import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
)

router = APIRouter(tags=["openai"])

_ERRORS = error_responses(400, 401, 404, 415, 422, 429, 500, 503)
_STREAM_DOC = SSE_CONTENT


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletionResponse,
    responses={**_ERRORS, 200: {"content": _STREAM_DOC}},
    summary="Chat completion (stream or not)",
    description=(
        "OpenAI-compatible. Supports temperature, top_p, max_tokens, stop (also across "
        "token boundaries), seed, presence_penalty and frequency_penalty (mlx-lm logits "
        "processors over the last 64 tokens), logprobs/top_logprobs, stream_options."
        "include_usage, and the keep_alive extension (seconds; 0 unloads after the request)."
    ),
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, service: GenerationDep, settings: SettingsDep
) -> ChatCompletionResponse | Response:
    generation = await service.start_chat(body)
    if body.stream:
        frames = stream_frames(
            generation,
            chat=True,
            include_usage=body.include_usage(),
            keepalive_s=settings.keepalive_interval_s,
        )
        return event_stream(frames)
    return await whole_answer(request.receive, generation, chat_response(generation, body.logprobs))


@router.post(
    "/v1/completions",
    response_model=CompletionResponse,
    responses={**_ERRORS, 200: {"content": _STREAM_DOC}},
    summary="Legacy text completion (stream or not)",
)
async def completions(
    body: CompletionRequest, request: Request, service: GenerationDep, settings: SettingsDep
) -> CompletionResponse | Response:
    generation = await service.start_completion(body)
    echo = body.prompt_text() if body.echo else None
    if body.stream:
        frames = stream_frames(
            generation,
            chat=False,
            include_usage=body.include_usage(),
            keepalive_s=settings.keepalive_interval_s,
            echo_text=echo,
        )
        return event_stream(frames)
    return await whole_answer(request.receive, generation, completion_response(generation, echo))
