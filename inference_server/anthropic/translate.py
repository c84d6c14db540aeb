"""Anthropic Messages to and from the chat pipeline (pure functions).

``chat_body`` turns a Messages request into the body of a chat completion request (the
route validates it with the chat schema and runs it like any chat request):

- ``system`` (a string or text blocks) becomes the first, system message;
- a user turn's text blocks become a user message (its image blocks make that message's
  content a list of text and ``image_url`` parts, in their order; a base64 source becomes a
  data URL); its ``tool_result`` blocks become ``role: "tool"`` messages (before the text,
  in their order), ``is_error`` prefixing ``Error: `` to the result;
- an assistant turn's text and ``tool_use`` blocks become one assistant message with
  ``tool_calls`` (the input as JSON arguments);
- ``tools`` become function tools; ``tool_choice`` ``auto`` / ``any`` / ``tool`` / ``none``
  become ``auto`` / ``required`` / the named function / ``none``, and
  ``disable_parallel_tool_use`` becomes ``parallel_tool_calls: false``;
- ``output_config.format`` (a JSON schema) becomes ``response_format`` ``json_schema``;
- ``max_tokens``, ``temperature``, ``top_p``, ``top_k`` carry over. ``stop_sequences`` are
  matched by the route (``turns.StopMatcher``) so that the answer can name the one that hit.

Refused by name (400): images inside ``tool_result`` blocks, extended thinking,
``output_config.effort``. Images on a text-only model are refused by the chat pipeline (400
``images_not_supported``).

``message`` and ``MessageStream`` build the answer from the turn's pieces
(``turns.TurnEvent``): the same pieces give the same message, streamed or not.
"""

from __future__ import annotations

import json
from typing import Any

from inference_server.errors import BadRequestError
from inference_server.turns import CallOut, EndReason, TextOut, TurnEnd, TurnEvent
from shared_schemas.anthropic import (
    Base64ImageSource,
    ContentBlock,
    ImageBlockParam,
    Message,
    MessageParam,
    MessagesRequest,
    PromptRequest,
    StopReason,
    TextBlock,
    TextBlockParam,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
    Usage,
)

STOP_REASONS: dict[EndReason, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "stop_sequence": "stop_sequence",
}


def unsupported(message: str, param: str) -> BadRequestError:
    return BadRequestError(message, param=param, code="unsupported_parameter")


def _image_refusal(param: str) -> BadRequestError:
    return BadRequestError(
        "image blocks inside tool_result blocks are not supported; send the image as an "
        "image block of the user turn",
        param=param,
        code="images_not_supported",
    )


def _image_part(block: ImageBlockParam) -> dict[str, Any]:
    source = block.source
    if isinstance(source, Base64ImageSource):
        url = f"data:{source.media_type};base64,{source.data}"
    else:
        url = source.url
    return {"type": "image_url", "image_url": {"url": url}}


def _system_text(system: str | list[TextBlockParam] | None) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system
    return "\n\n".join(block.text for block in system)


def _tool_result_text(block: ToolResultBlockParam, param: str) -> str:
    content = block.content
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        pieces: list[str] = []
        for index, part in enumerate(content):
            if isinstance(part, ImageBlockParam):
                raise _image_refusal(f"{param}.content.{index}")
            pieces.append(part.text)
        text = "\n".join(pieces)
    return f"Error: {text}" if block.is_error else text


def _user_messages(message: MessageParam, param: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"role": "user", "content": message.content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []  # text and image_url parts, in order

    def flush() -> None:
        if any(part["type"] == "image_url" for part in parts):
            out.append({"role": "user", "content": [*parts]})
        elif parts:
            out.append({"role": "user", "content": "\n".join(p["text"] for p in parts)})
        parts.clear()

    for index, block in enumerate(message.content):
        where = f"{param}.content.{index}"
        if isinstance(block, TextBlockParam):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlockParam):
            parts.append(_image_part(block))
        elif isinstance(block, ToolResultBlockParam):
            flush()
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": block.tool_use_id,
                    "content": _tool_result_text(block, where),
                }
            )
        else:
            raise BadRequestError(
                "tool_use blocks belong in assistant turns", param=where, code="invalid_message"
            )
    flush()
    return out


def _assistant_message(message: MessageParam, param: str) -> dict[str, Any]:
    if isinstance(message.content, str):
        return {"role": "assistant", "content": message.content}
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(message.content):
        where = f"{param}.content.{index}"
        if isinstance(block, TextBlockParam):
            text.append(block.text)
        elif isinstance(block, ToolUseBlockParam):
            arguments = json.dumps(block.input, ensure_ascii=False)
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        elif isinstance(block, ImageBlockParam):
            raise BadRequestError(
                "image blocks belong in user turns", param=where, code="invalid_message"
            )
        else:
            raise BadRequestError(
                "tool_result blocks belong in user turns", param=where, code="invalid_message"
            )
    out: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        out["tool_calls"] = calls
    return out


def chat_messages(request: PromptRequest) -> list[dict[str, Any]]:
    """The chat messages of a Messages prompt (see the module doc)."""
    messages: list[dict[str, Any]] = []
    system = _system_text(request.system)
    if system is not None:
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(request.messages):
        param = f"messages.{index}"
        if message.role == "user":
            messages.extend(_user_messages(message, param))
        else:
            messages.append(_assistant_message(message, param))
    return messages


def _tool_fields(request: PromptRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if request.tools is not None:
        fields["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": tool.input_schema,
                },
            }
            for tool in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        if isinstance(choice, ToolChoiceAuto):
            fields["tool_choice"] = "auto"
        elif isinstance(choice, ToolChoiceAny):
            fields["tool_choice"] = "required"
        elif isinstance(choice, ToolChoiceTool):
            fields["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif isinstance(choice, ToolChoiceNone):
            fields["tool_choice"] = "none"
        if not isinstance(choice, ToolChoiceNone) and choice.disable_parallel_tool_use:
            fields["parallel_tool_calls"] = False
    return fields


def check_prompt(request: PromptRequest) -> None:
    """Refusals that hold for messages and token counts alike."""
    choice = request.tool_choice
    if choice is not None and not isinstance(choice, ToolChoiceNone) and not request.tools:
        raise BadRequestError(
            "tool_choice needs tools", param="tool_choice", code="conflicting_parameters"
        )


def prompt_body(request: PromptRequest) -> dict[str, Any]:
    """The chat body of a prompt, without the sampling fields (token counting uses it)."""
    check_prompt(request)
    return {"model": request.model, "messages": chat_messages(request), **_tool_fields(request)}


def chat_body(request: MessagesRequest) -> dict[str, Any]:
    """The chat completion body that answers a Messages request (see the module doc)."""
    body = prompt_body(request)
    body["max_tokens"] = request.max_tokens
    output = request.output_config
    if output is not None and output.format is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": output.format.schema_, "strict": True},
        }
    for name in ("temperature", "top_p", "top_k", "keep_alive"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    return body


def _input(arguments: str) -> dict[str, Any]:
    """A call's input object from its JSON arguments."""
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _usage(end: TurnEnd) -> Usage:
    return Usage(
        input_tokens=end.input_tokens,
        output_tokens=end.output_tokens,
        cache_read_input_tokens=end.cached_tokens,
    )


def message(message_id: str, model: str, pieces: list[TurnEvent]) -> Message:
    """The whole answer from the turn's pieces (which end with ``TurnEnd``)."""
    content: list[ContentBlock] = []
    end: TurnEnd | None = None
    for piece in pieces:
        if isinstance(piece, TextOut):
            last = content[-1] if content else None
            if isinstance(last, TextBlock):
                last.text += piece.text
            else:
                content.append(TextBlock(text=piece.text))
        elif isinstance(piece, CallOut):
            block = ToolUseBlock(id=piece.id, name=piece.name, input=_input(piece.arguments))
            content.append(block)
        else:
            end = piece
    if end is None:
        raise ValueError("the turn has no end")
    return Message(
        id=message_id,
        content=content,
        model=model,
        stop_reason=STOP_REASONS[end.reason],
        stop_sequence=end.stop_sequence,
        usage=_usage(end),
    )


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


PING = _event("ping", {"type": "ping"})


class MessageStream:
    """Anthropic's streamed events for one answer, fed the turn's pieces (pure).

    ``message_start``, ``ping``, then per content block ``content_block_start``, deltas
    (``text_delta`` or ``input_json_delta``) and ``content_block_stop``, then
    ``message_delta`` (stop reason, output tokens) and ``message_stop``.
    """

    def __init__(self, message_id: str, model: str, input_tokens: int) -> None:
        self._id = message_id
        self._model = model
        self._input_tokens = input_tokens
        self._index = -1
        self._open: str | None = None  # the type of the block being streamed

    def start(self) -> str:
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return _event("message_start", {"type": "message_start", "message": message}) + PING

    def _close(self) -> str:
        if self._open is None:
            return ""
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _open_block(self, block: dict[str, Any]) -> str:
        out = self._close()
        self._index += 1
        self._open = block["type"]
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + _event("content_block_start", start)

    def _delta(self, delta: dict[str, Any]) -> str:
        body = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return _event("content_block_delta", body)

    def feed(self, pieces: list[TurnEvent]) -> str:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, TextOut):
                if not piece.text:
                    continue
                if self._open != "text":
                    out.append(self._open_block({"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": piece.text}))
            elif isinstance(piece, CallOut):
                block = {"type": "tool_use", "id": piece.id, "name": piece.name, "input": {}}
                out.append(self._open_block(block))
                partial = {"type": "input_json_delta", "partial_json": piece.arguments}
                out.append(self._delta(partial))
                out.append(self._close())
            else:
                out.append(self._close())
                delta = {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": STOP_REASONS[piece.reason],
                        "stop_sequence": piece.stop_sequence,
                    },
                    "usage": {
                        "output_tokens": piece.output_tokens,
                        "cache_read_input_tokens": piece.cached_tokens,
                    },
                }
                out.append(_event("message_delta", delta))
                out.append(_event("message_stop", {"type": "message_stop"}))
        return "".join(out)
