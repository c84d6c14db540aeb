"""The Responses API to and from the chat pipeline (pure functions).

``chat_body`` turns a Responses request into the body of a chat completion request:

- ``instructions`` become the first, system message; ``input`` as a string is one user
  message; input items become chat messages in order: a ``message`` item a message of its
  role (``developer`` is the system role), ``function_call`` items the ``tool_calls`` of an
  assistant message (joined to the assistant message just before them, if any), and
  ``function_call_output`` items ``role: "tool"`` messages;
- function ``tools``, ``tool_choice``, ``parallel_tool_calls`` carry over as they are in chat;
  ``text.format`` becomes ``response_format``; ``max_output_tokens`` becomes ``max_tokens``.

Refused by name (400): images in the input, and ``previous_response_id`` (the inference
server keeps no responses; the manager expands it before the request gets here).

``response_object`` and ``ResponseStream`` build the answer from the turn's pieces
(``turns.TurnEvent``): the same pieces give the same response, streamed or not.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from inference_server.errors import BadRequestError
from inference_server.turns import CallOut, TextOut, TurnEnd, TurnEvent
from shared_schemas.responses_api import (
    FormatJSONObject,
    FormatJSONSchema,
    FunctionCallItem,
    FunctionCallOutput,
    FunctionCallOutputItem,
    FunctionToolChoice,
    IncompleteDetails,
    InputImage,
    InputTokensDetails,
    MessageItem,
    OutputItem,
    OutputMessage,
    OutputTextPart,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _refuse_images(item: MessageItem | FunctionCallOutputItem, param: str) -> None:
    parts = item.content if isinstance(item, MessageItem) else item.output
    if isinstance(parts, str):
        return
    for index, part in enumerate(parts):
        if isinstance(part, InputImage):
            where = f"{param}.{'content' if isinstance(item, MessageItem) else 'output'}.{index}"
            raise BadRequestError(
                "images are not supported: this server serves text models only",
                param=where,
                code="images_not_supported",
            )


def chat_messages(request: ResponsesRequest) -> list[dict[str, Any]]:
    """The chat messages of a Responses request (see the module doc)."""
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
        return messages
    for index, item in enumerate(request.input):
        param = f"input.{index}"
        if isinstance(item, MessageItem):
            _refuse_images(item, param)
            role = "system" if item.role == "developer" else item.role
            messages.append({"role": role, "content": item.text()})
        elif isinstance(item, FunctionCallItem):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        else:
            _refuse_images(item, param)
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.text()})
    return messages


def _response_format(request: ResponsesRequest) -> dict[str, Any] | None:
    fmt = request.text.format if request.text is not None else None
    if isinstance(fmt, FormatJSONObject):
        return {"type": "json_object"}
    if isinstance(fmt, FormatJSONSchema):
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        return {"type": "json_schema", "json_schema": schema}
    return None


def chat_body(request: ResponsesRequest) -> dict[str, Any]:
    """The chat completion body that answers a Responses request (see the module doc)."""
    if request.previous_response_id is not None:
        raise BadRequestError(
            "previous_response_id needs the manager, which keeps responses; the inference "
            "server keeps none",
            param="previous_response_id",
            code="unsupported_parameter",
        )
    body: dict[str, Any] = {"model": request.model, "messages": chat_messages(request)}
    if request.tools is not None:
        body["tools"] = [
            {
                "type": "function",
                "function": tool.model_dump(exclude={"type"}, exclude_none=True),
            }
            for tool in request.tools
        ]
    choice = request.tool_choice
    if isinstance(choice, FunctionToolChoice):
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    elif choice is not None:
        body["tool_choice"] = choice
    response_format = _response_format(request)
    if response_format is not None:
        body["response_format"] = response_format
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    for name in ("parallel_tool_calls", "temperature", "top_p", "keep_alive"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    return body


def _echo(request: ResponsesRequest) -> dict[str, Any]:
    """The request settings the response object repeats."""
    text: dict[str, Any] = {"format": {"type": "text"}}
    if request.text is not None and request.text.format is not None:
        text = {"format": request.text.format.model_dump(by_alias=True, exclude_none=True)}
    choice: Any = request.tool_choice or "auto"
    if isinstance(choice, FunctionToolChoice):
        choice = choice.model_dump()
    return {
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": request.model,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "text": text,
        "tool_choice": choice,
        "tools": [tool.model_dump(exclude_none=True) for tool in request.tools or []],
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "user": request.user,
        "metadata": request.metadata or {},
    }


def _usage(end: TurnEnd) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=end.input_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=end.cached_tokens),
        output_tokens=end.output_tokens,
        total_tokens=end.input_tokens + end.output_tokens,
    )


def _finished(fields: dict[str, Any], end: TurnEnd) -> dict[str, Any]:
    incomplete = end.reason == "length"
    return {
        **fields,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": (
            IncompleteDetails(reason="max_output_tokens") if incomplete else None
        ),
        "usage": _usage(end),
    }


def response_object(
    response_id: str, created_at: int, request: ResponsesRequest, pieces: list[TurnEvent]
) -> ResponseObject:
    """The whole response from the turn's pieces (which end with ``TurnEnd``)."""
    output: list[OutputItem] = []
    end: TurnEnd | None = None
    for piece in pieces:
        if isinstance(piece, TextOut):
            last = output[-1] if output else None
            if isinstance(last, OutputMessage):
                last.content[0].text += piece.text
            elif piece.text:
                output.append(
                    OutputMessage(id=new_id("msg"), content=[OutputTextPart(text=piece.text)])
                )
        elif isinstance(piece, CallOut):
            output.append(
                FunctionCallOutput(
                    id=new_id("fc"), call_id=piece.id, name=piece.name, arguments=piece.arguments
                )
            )
        else:
            end = piece
    if end is None:
        raise ValueError("the turn has no end")
    fields = {"id": response_id, "created_at": created_at, "output": output, **_echo(request)}
    return ResponseObject.model_validate(_finished(fields, end))


class ResponseStream:
    """The Responses API's streamed events for one answer, fed the turn's pieces (pure).

    ``response.created``, ``response.in_progress``; per text item ``output_item.added``,
    ``content_part.added``, ``output_text.delta``..., ``output_text.done``,
    ``content_part.done``, ``output_item.done``; per call ``output_item.added``,
    ``function_call_arguments.delta`` / ``.done``, ``output_item.done``; then
    ``response.completed`` (or ``response.incomplete`` when cut by ``max_output_tokens``).
    """

    def __init__(self, response_id: str, created_at: int, request: ResponsesRequest) -> None:
        self._fields: dict[str, Any] = {
            "id": response_id,
            "created_at": created_at,
            **_echo(request),
        }
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._text: dict[str, Any] | None = None  # the message item being streamed

    def _event(self, kind: str, **data: Any) -> str:
        body = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        fields = {**self._fields, "status": status, "output": list(self._output), **extra}
        return ResponseObject.model_validate(fields).model_dump(mode="json")

    def start(self) -> str:
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def _close_text(self) -> str:
        item = self._text
        if item is None:
            return ""
        self._text = None
        index = len(self._output) - 1
        text = item["content"][0]["text"]
        item["status"] = "completed"
        ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return "".join(
            (
                self._event("response.output_text.done", **ids, text=text, logprobs=[]),
                self._event("response.content_part.done", **ids, part=item["content"][0]),
                self._event("response.output_item.done", output_index=index, item=item),
            )
        )

    def _text_delta(self, text: str) -> str:
        out = ""
        if self._text is None:
            item = OutputMessage(id=new_id("msg"), status="in_progress", content=[])
            self._text = item.model_dump()
            self._output.append(self._text)
            index = len(self._output) - 1
            out += self._event(
                "response.output_item.added", output_index=index, item={**self._text}
            )
            part = OutputTextPart(text="").model_dump()
            self._text["content"].append(part)
            out += self._event(
                "response.content_part.added",
                item_id=item.id,
                output_index=index,
                content_index=0,
                part=part,
            )
        self._text["content"][0]["text"] += text
        return out + self._event(
            "response.output_text.delta",
            item_id=self._text["id"],
            output_index=len(self._output) - 1,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _call(self, call: CallOut) -> str:
        out = self._close_text()
        added = FunctionCallOutput(
            id=new_id("fc"),
            status="in_progress",
            call_id=call.id,
            name=call.name,
            arguments="",
        ).model_dump()
        self._output.append(added)
        index = len(self._output) - 1
        ids = {"item_id": added["id"], "output_index": index}
        out += self._event("response.output_item.added", output_index=index, item=dict(added))
        out += self._event("response.function_call_arguments.delta", **ids, delta=call.arguments)
        out += self._event(
            "response.function_call_arguments.done", **ids, name=call.name, arguments=call.arguments
        )
        added.update(status="completed", arguments=call.arguments)
        return out + self._event("response.output_item.done", output_index=index, item=added)

    def feed(self, pieces: list[TurnEvent]) -> str:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, TextOut):
                if piece.text:
                    out.append(self._text_delta(piece.text))
            elif isinstance(piece, CallOut):
                out.append(self._call(piece))
            else:
                out.append(self._close_text())
                finished = _finished({}, piece)
                response = self._response(**finished)
                kind = "response.completed" if finished["status"] == "completed" else None
                out.append(self._event(kind or "response.incomplete", response=response))
        return "".join(out)

    def failed(self, code: str, message: str) -> str:
        """The stream's end when generation failed after it started."""
        self._close_text()
        response = self._response("failed", error={"code": code, "message": message})
        return self._event("response.failed", response=response)
