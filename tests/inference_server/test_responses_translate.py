"""The Responses API to and from the chat pipeline: the pure translation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inference_server.errors import BadRequestError
from inference_server.responses.translate import ResponseStream, chat_body, response_object
from inference_server.turns import CallOut, TextOut, TurnEnd, TurnEvent
from shared_schemas.responses_api import ResponsesRequest


def request(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "local/tiny-a", "input": "hi", **fields})


def test_string_input_and_instructions() -> None:
    body = chat_body(request(instructions="be brief", max_output_tokens=9, temperature=0))
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert body["max_tokens"] == 9
    assert body["temperature"] == 0


def test_items_become_chat_messages() -> None:
    body = chat_body(
        request(
            input=[
                {"role": "developer", "content": "rules"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "q"}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "calling", "annotations": []}],
                },
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"x":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {"type": "function_call_output", "call_id": "c2", "output": "two"},
            ]
        )
    )
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": "rules"}
    assert messages[1] == {"role": "user", "content": "q"}
    assert messages[2]["role"] == "assistant"
    assert messages[2]["content"] == "calling"
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["c1", "c2"]
    assert messages[2]["tool_calls"][1]["function"] == {"name": "g", "arguments": '{"x":1}'}
    assert messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "one"}
    assert messages[4] == {"role": "tool", "tool_call_id": "c2", "content": "two"}


def test_a_call_with_no_assistant_text_opens_its_own_message() -> None:
    body = chat_body(
        request(input=[{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}])
    )
    assert body["messages"] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        }
    ]


def test_tools_choice_and_text_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = chat_body(
        request(
            tools=[{"type": "function", "name": "f", "parameters": schema, "strict": True}],
            tool_choice={"type": "function", "name": "f"},
            parallel_tool_calls=False,
            text={"format": {"type": "json_schema", "name": "out", "schema": schema}},
        )
    )
    assert body["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": schema, "strict": True}}
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema},
    }
    assert chat_body(request(tool_choice="required"))["tool_choice"] == "required"
    assert chat_body(request(text={"format": {"type": "json_object"}}))["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in chat_body(request(text={"format": {"type": "text"}}))


def test_refusals() -> None:
    with pytest.raises(BadRequestError) as caught:
        chat_body(request(previous_response_id="resp_1"))
    assert caught.value.param == "previous_response_id"
    image = {"role": "user", "content": [{"type": "input_image", "image_url": "data:,"}]}
    with pytest.raises(BadRequestError) as caught:
        chat_body(request(input=[image]))
    assert caught.value.code == "images_not_supported"
    assert caught.value.param == "input.0.content.0"
    with pytest.raises(ValueError):
        request(tools=[{"type": "web_search"}])
    with pytest.raises(ValueError):
        request(input=[{"type": "reasoning", "summary": []}])
    with pytest.raises(ValueError, match="reasoning"):
        request(reasoning={"effort": "high"})
    with pytest.raises(ValueError):
        request(truncation="auto")


def test_response_object_from_pieces() -> None:
    pieces: list[TurnEvent] = [
        TextOut("a"),
        TextOut("b"),
        CallOut("call_1", "f", "{}"),
        TurnEnd("tool_calls", 4, 3),
    ]
    answer = response_object("resp_1", 100, request(metadata={"k": "v"}), pieces)
    assert answer.status == "completed"
    assert [item.type for item in answer.output] == ["message", "function_call"]
    data = answer.model_dump()
    assert data["output"][0]["content"][0]["text"] == "ab"
    assert data["output"][1]["call_id"] == "call_1"
    assert data["usage"]["total_tokens"] == 7
    assert data["metadata"] == {"k": "v"}
    assert data["store"] is False  # the inference server keeps nothing


def test_cut_by_max_output_tokens_is_incomplete() -> None:
    answer = response_object("resp_1", 1, request(), [TextOut("x"), TurnEnd("length", 1, 1)])
    assert answer.status == "incomplete"
    assert answer.incomplete_details is not None
    assert answer.incomplete_details.reason == "max_output_tokens"


def events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        name_line, data_line = block.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {data['type']}"
        out.append(data)
    return out


def test_stream_event_sequence() -> None:
    stream = ResponseStream("resp_1", 100, request())
    text = stream.start()
    text += stream.feed([TextOut("He"), TextOut("y")])
    text += stream.feed([CallOut("call_1", "f", '{"a":1}'), TurnEnd("tool_calls", 3, 5)])
    sequence = events(text)
    assert [e["type"] for e in sequence] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in sequence] == list(range(len(sequence)))
    assert sequence[0]["response"]["status"] == "in_progress"
    assert sequence[6]["text"] == "Hey"
    assert sequence[9]["output_index"] == 1
    assert sequence[11]["arguments"] == '{"a":1}'
    final = sequence[-1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "Hey"
    assert final["output"][1]["arguments"] == '{"a":1}'
    assert final["usage"]["output_tokens"] == 5


def test_failed_stream_ends_with_response_failed() -> None:
    stream = ResponseStream("resp_1", 100, request())
    stream.start()
    stream.feed([TextOut("x")])
    last = events(stream.failed("generation_failed", "boom"))[-1]
    assert last["type"] == "response.failed"
    assert last["response"]["error"] == {"code": "generation_failed", "message": "boom"}
