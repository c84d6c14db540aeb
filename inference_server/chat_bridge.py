"""The chat pipeline as the other APIs use it: a translated body made a chat request, and
the prompt's token count.

The Anthropic Messages and Responses routes translate their requests into chat completion
bodies (pure functions in their packages) and hand them to ``chat_request``, so every rule
of the chat schema (model ids, tools, response formats) holds for them too. A body the chat
schema refuses is the client's mistake, answered 400 with the first reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from inference_server.errors import BadRequestError
from inference_server.generation.service import GenerationService
from inference_server.pool.pool import ModelPool
from shared_schemas.openai import ChatCompletionRequest, ChatMessage


def _check_fields(body: dict[str, Any]) -> None:
    """Every field of the translated body is one the chat schema reads: a translation never
    relies on a field being ignored."""
    for key in body:
        if key not in ChatCompletionRequest.model_fields:
            raise BadRequestError(
                f"{key} is not supported by this server", param=key, code="unsupported_parameter"
            )
    for index, message in enumerate(body.get("messages", [])):
        for key in message:
            if key not in ChatMessage.model_fields:
                raise BadRequestError(
                    f"messages.{index}.{key} is not supported by this server",
                    param=f"messages.{index}.{key}",
                    code="unsupported_parameter",
                )


def chat_request(body: dict[str, Any]) -> ChatCompletionRequest:
    _check_fields(body)
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first.get("loc", ())) or None
        message = str(first.get("msg", "invalid request"))
        raise BadRequestError(
            f"{param}: {message}" if param else message, param=param, code="invalid_request"
        ) from exc


def _template_messages(request: ChatCompletionRequest) -> list[dict[str, Any]]:
    return [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        for m in request.messages
    ]


async def count_prompt_tokens(
    service: GenerationService, pool: ModelPool, request: ChatCompletionRequest
) -> int:
    """How many tokens the prompt of ``request`` is, by the model's own chat template (the
    model is loaded for it, as for a generation)."""
    model_id = service.model_id(request.model)
    messages = _template_messages(request)
    async with pool.use(model_id, keep_alive=request.keep_alive) as slot:
        tokenizer = slot.runtime.tokenizer

        def count() -> int:
            return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True))

        return await asyncio.to_thread(count)
