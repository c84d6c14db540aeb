"""Run a Messages request on the chat pipeline: the whole message, or its event stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from inference_server.anthropic.translate import (
    PING,
    MessageStream,
    chat_body,
    message,
    prompt_body,
)
from inference_server.chat_bridge import chat_request
from inference_server.errors import InferenceError
from inference_server.generation.service import Generation, GenerationService
from inference_server.turns import collect_turn, turn_events
from service_kit.anthropic_errors import anthropic_error, error_event
from service_kit.observability import current_request_id
from shared_schemas.anthropic import CountTokensRequest, Message, MessagesRequest
from shared_schemas.openai import ChatCompletionRequest

logger = logging.getLogger(__name__)


def message_id(generation: Generation) -> str:
    return "msg_" + generation.id.rsplit("-", 1)[-1]


def prompt_request(request: CountTokensRequest) -> ChatCompletionRequest:
    """The chat request whose prompt is the Messages prompt (for token counting)."""
    return chat_request(prompt_body(request))


async def start(service: GenerationService, request: MessagesRequest) -> Generation:
    return await service.start_chat(chat_request(chat_body(request)))


async def whole(generation: Generation, request: MessagesRequest) -> Message:
    pieces = await collect_turn(generation, request.stop_sequences or [])
    return message(message_id(generation), request.model, pieces)


def _error_frame(exc: InferenceError) -> bytes:
    body: dict[str, Any] = exc.body()
    return error_event(
        anthropic_error(exc.status, body["error"]["message"], exc.code, current_request_id())
    )


async def events(
    generation: Generation, request: MessagesRequest, keepalive_s: float
) -> AsyncIterator[bytes]:
    """Anthropic's SSE events for the generation; it is closed (cancelled if unfinished)
    when the stream ends or the client goes away."""
    stream = MessageStream(message_id(generation), request.model, generation.prompt_tokens)
    try:
        yield stream.start().encode()
        try:
            async for pieces in turn_events(generation, request.stop_sequences or [], keepalive_s):
                if pieces is None:
                    yield PING.encode()
                    continue
                frames = stream.feed(pieces)
                if frames:
                    yield frames.encode()
        except InferenceError as exc:
            logger.error("a streamed message failed: %s", exc.message)
            yield _error_frame(exc)
    finally:
        await generation.close()
