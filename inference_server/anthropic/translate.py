"""From an Anthropic Messages request to the server's chat request (pure).

The conversation maps one to one: ``system`` becomes a system message, text blocks text
parts, image blocks ``image_url`` parts (base64 sources as data URLs). What this server does
not serve yet is refused by name: tools, ``tool_use`` / ``tool_result`` blocks, ``top_k``
and extended thinking. Stop sequences are not passed on: the caller scans for them, so it
can say which one ended the reply (``stop_sequence``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from inference_server.errors import BadRequestError
from shared_schemas.anthropic import (
    CountTokensRequest,
    ImageBlock,
    MessagesRequest,
    OtherBlock,
    TextBlock,
)
from shared_schemas.openai import ChatCompletionRequest


def _unsupported(field: str, why: str) -> BadRequestError:
    return BadRequestError(f"{field}: {why}", code="unsupported_parameter", param=field)


def _refuse_unserved(request: MessagesRequest | CountTokensRequest) -> None:
    if request.tools:
        raise _unsupported("tools", "tool use is not served on this route yet")
    if request.tool_choice is not None:
        raise _unsupported("tool_choice", "tool use is not served on this route yet")
    thinking = request.thinking or {}
    if thinking.get("type", "disabled") != "disabled":
        raise _unsupported("thinking", "extended thinking is not served")
    if isinstance(request, MessagesRequest) and request.top_k:
        raise _unsupported("top_k", "top-k sampling is not served; use top_p or temperature")


def _image_url(block: ImageBlock) -> str:
    source = block.source
    if source.type == "base64":
        return f"data:{source.media_type};base64,{source.data}"
    return source.url


def _content(content: str | list[Any], index: int) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block)}})
        else:
            assert isinstance(block, OtherBlock)
            raise BadRequestError(
                f"messages[{index}]: {block.type!r} blocks are not served on this route yet",
                code="unsupported_content",
                param=f"messages[{index}].content",
            )
    return parts


def to_chat_request(
    request: MessagesRequest | CountTokensRequest, *, stream: bool = False
) -> ChatCompletionRequest:
    """The chat request that generates the same reply (without its stop sequences)."""
    _refuse_unserved(request)
    messages: list[dict[str, Any]] = []
    if request.system:
        system = request.system
        text = system if isinstance(system, str) else "\n\n".join(b.text for b in system)
        messages.append({"role": "system", "content": text})
    for index, message in enumerate(request.messages):
        messages.append({"role": message.role, "content": _content(message.content, index)})
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if isinstance(request, MessagesRequest):
        body.update(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
        )
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:  # pragma: no cover - the Anthropic schema is stricter
        raise BadRequestError(f"invalid request: {exc.errors()[0]['msg']}") from exc
