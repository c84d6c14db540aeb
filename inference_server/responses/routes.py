"""Responses API route (stateless): thin; the translation is in ``translate.py``.

The inference server keeps no responses: ``GET`` / ``DELETE /v1/responses/{id}``,
``store`` and ``previous_response_id`` are the manager's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from inference_server.deps import GenerationDep, SettingsDep
from inference_server.generation.replies import whole_answer
from inference_server.responses import answer
from service_kit.sse import SSE_CONTENT, event_stream
from shared_schemas.errors import error_responses
from shared_schemas.responses_api import ResponseObject, ResponsesRequest

router = APIRouter(tags=["openai"])

_ERRORS = error_responses(400, 401, 404, 415, 429, 500, 503)


@router.post(
    "/v1/responses",
    response_model=ResponseObject,
    responses={**_ERRORS, 200: {"content": SSE_CONTENT}},
    summary="OpenAI Responses (stream or not), stateless",
    description=(
        "input as a string or items (messages, function_call, function_call_output), "
        "instructions, function tools, tool_choice, text.format, max_output_tokens, "
        "temperature, top_p, stream (the Responses event sequence). Nothing is stored here "
        "(store: false in the answer); the manager stores responses and expands "
        "previous_response_id."
    ),
)
async def create_response(
    body: ResponsesRequest, request: Request, service: GenerationDep, settings: SettingsDep
) -> ResponseObject | Response:
    generation = await answer.start(service, body)
    if body.stream:
        events = answer.events(generation, body, settings.keepalive_interval_s)
        return event_stream(events)
    return await whole_answer(request.receive, generation, answer.whole(generation, body))
