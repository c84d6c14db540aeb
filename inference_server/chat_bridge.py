"""The chat pipeline as the other APIs use it: a translated body made a chat request (the
prompt's token count is ``GenerationService.count_chat_tokens``).

The Anthropic Messages and Responses routes translate their requests into chat completion
bodies (pure functions in their packages) and hand them to ``chat_request``, so every rule
of the chat schema (model ids, tools, response formats) holds for them too. A body the chat
schema refuses is the client's mistake, answered 400 with the first reason.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from inference_server.errors import BadRequestError
from shared_schemas.openai import ChatCompletionRequest, ChatMessage


class BridgedChatRequest(ChatCompletionRequest):
    """A chat request as the other APIs make it: with ``top_k``, which Anthropic's API has
    and OpenAI's chat has not."""

    top_k: int | None = Field(default=None, ge=0, description="0 or absent: no limit.")


def _check_fields(body: dict[str, Any]) -> None:
    """Every field of the translated body is one the chat schema reads: a translation never
    relies on a field being ignored."""
    for key in body:
        if key not in BridgedChatRequest.model_fields:
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
        return BridgedChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first.get("loc", ())) or None
        message = str(first.get("msg", "invalid request"))
        raise BadRequestError(
            f"{param}: {message}" if param else message, param=param, code="invalid_request"
        ) from exc
