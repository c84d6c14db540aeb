"""Run a Responses request on the chat pipeline: the whole response, or its event stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from inference_server.chat_bridge import chat_request
from inference_server.errors import InferenceError
from inference_server.generation.service import Generation, GenerationService
from inference_server.responses.translate import ResponseStream, chat_body, response_object
from inference_server.turns import collect_turn, turn_events
from shared_schemas.responses_api import ResponseObject, ResponsesRequest

logger = logging.getLogger(__name__)

KEEPALIVE = b": keep-alive\n\n"


def response_id(generation: Generation) -> str:
    return "resp_" + generation.id.rsplit("-", 1)[-1]


async def start(service: GenerationService, request: ResponsesRequest) -> Generation:
    return await service.start_chat(chat_request(chat_body(request)))


async def whole(generation: Generation, request: ResponsesRequest) -> ResponseObject:
    pieces = await collect_turn(generation, [])
    return response_object(response_id(generation), generation.created, request, pieces)


async def events(
    generation: Generation, request: ResponsesRequest, keepalive_s: float
) -> AsyncIterator[bytes]:
    """The Responses SSE events for the generation; it is closed (cancelled if unfinished)
    when the stream ends or the client goes away."""
    stream = ResponseStream(response_id(generation), generation.created, request)
    try:
        yield stream.start().encode()
        try:
            async for pieces in turn_events(generation, [], keepalive_s):
                if pieces is None:
                    yield KEEPALIVE
                    continue
                frames = stream.feed(pieces)
                if frames:
                    yield frames.encode()
        except InferenceError as exc:
            logger.error("a streamed response failed: %s", exc.message)
            yield stream.failed(exc.code, exc.message).encode()
    finally:
        await generation.close()
