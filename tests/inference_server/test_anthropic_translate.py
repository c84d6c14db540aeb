"""Anthropic Messages to and from the chat pipeline: the pure translation."""

from __future__ import annotations

import json

import pytest

from inference_server.anthropic.translate import MessageStream, chat_body, message
from inference_server.errors import BadRequestError
from inference_server.turns import CallOut, TextOut, TurnEnd, TurnEvent
from shared_schemas.anthropic import MessagesRequest


def request(**fields: object) -> MessagesRequest:
    base: dict[str, object] = {
        "model": "local/tiny-a",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return MessagesRequest.model_validate({**base, **fields})


def test_system_blocks_and_sampling_fields() -> None:
    body = chat_body(
        request(
            system=[{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
            temperature=0.5,
            top_p=0.9,
            stop_sequences=["END"],
        )
    )
    assert body["messages"][0] == {"role": "system", "content": "one\n\ntwo"}
    assert body["messages"][1] == {"role": "user", "content": "hi"}
    assert body["max_tokens"] == 16
    assert body["temperature"] == 0.5
    assert body["top_p"] == 0.9
    assert "stop" not in body  # matched by the route, so the answer can name it


def test_tool_round_trip_becomes_chat_tool_messages() -> None:
    body = chat_body(
        request(
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me look."},
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [{"type": "text", "text": "no such city"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
            tools=[
                {
                    "name": "get_weather",
                    "description": "Weather now",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ],
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        )
    )
    assistant = body["messages"][1]
    assert assistant["content"] == "Let me look."
    call = assistant["tool_calls"][0]
    assert call["id"] == "toolu_1"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "rain"}
    assert body["messages"][3]["content"] == "Error: no such city"
    assert body["messages"][4] == {"role": "user", "content": "thanks"}
    assert body["tools"][0]["function"] == {
        "name": "get_weather",
        "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none")],
)
def test_tool_choice_kinds(choice: dict[str, str], expected: str) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    assert chat_body(request(tools=tools, tool_choice=choice))["tool_choice"] == expected


PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def test_image_blocks_become_image_url_parts_in_order() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": PNG},
        {"type": "text", "text": "with"},
        {"type": "image", "source": {"type": "url", "url": "https://example.org/b.jpg"}},
    ]
    body = chat_body(request(messages=[{"role": "user", "content": content}]))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "text", "text": "with"},
                {"type": "image_url", "image_url": {"url": "https://example.org/b.jpg"}},
            ],
        }
    ]


def test_an_image_beside_tool_results_stays_in_the_user_turn() -> None:
    content = [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "done"},
        {"type": "image", "source": PNG},
        {"type": "text", "text": "And this?"},
    ]
    messages = chat_body(request(messages=[{"role": "user", "content": content}]))["messages"]
    assert messages[0] == {"role": "tool", "tool_call_id": "call_1", "content": "done"}
    assert [part["type"] for part in messages[1]["content"]] == ["image_url", "text"]


def test_images_where_they_cannot_go_are_refused_by_name() -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": [{"type": "image", "source": PNG}],
    }
    with pytest.raises(BadRequestError) as caught:
        chat_body(request(messages=[{"role": "user", "content": [result]}]))
    assert caught.value.code == "images_not_supported"
    assert caught.value.param == "messages.0.content.0.content.0"
    assistant = {"role": "assistant", "content": [{"type": "image", "source": PNG}]}
    with pytest.raises(BadRequestError) as misplaced:
        chat_body(request(messages=[{"role": "user", "content": "hi"}, assistant]))
    assert misplaced.value.code == "invalid_message"


@pytest.mark.parametrize(
    "source",
    [
        {"type": "base64", "media_type": "image/tiff", "data": "AAAA"},
        {"type": "base64", "media_type": "image/png", "data": ""},
        {"type": "file", "file_id": "file_1"},
        {"type": "url", "url": "https://example.org/a.png", "detail": "high"},
    ],
)
def test_image_sources_the_api_does_not_have_are_refused_by_the_schema(
    source: dict[str, str],
) -> None:
    with pytest.raises(ValueError, match="source"):
        request(messages=[{"role": "user", "content": [{"type": "image", "source": source}]}])


def test_thinking_is_refused_and_tool_choice_needs_tools() -> None:
    with pytest.raises(ValueError, match="thinking"):
        request(thinking={"type": "enabled", "budget_tokens": 1024})
    with pytest.raises(BadRequestError) as caught:
        chat_body(request(tool_choice={"type": "any"}))
    assert caught.value.param == "tool_choice"
    assert "thinking" not in chat_body(request(thinking={"type": "disabled"}))


def test_unknown_fields_and_server_tools_fail_validation() -> None:
    with pytest.raises(ValueError, match="top_n"):
        request(top_n=3)
    with pytest.raises(ValueError):
        request(tools=[{"type": "web_search_20250305", "name": "web_search"}])


def test_message_from_pieces() -> None:
    pieces: list[TurnEvent] = [
        TextOut("Hel"),
        TextOut("lo"),
        CallOut("call_1", "f", '{"a": 1}'),
        TurnEnd("tool_calls", 10, 7, cached_tokens=4),
    ]
    answer = message("msg_1", "local/tiny-a", pieces)
    assert [block.type for block in answer.content] == ["text", "tool_use"]
    assert answer.content[0].model_dump()["text"] == "Hello"
    assert answer.content[1].model_dump()["input"] == {"a": 1}
    assert answer.stop_reason == "tool_use"
    assert answer.usage.input_tokens == 10
    assert answer.usage.output_tokens == 7
    assert answer.usage.cache_read_input_tokens == 4


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("stop_sequence", "stop_sequence")],
)
def test_stop_reasons(reason: str, expected: str) -> None:
    end = TurnEnd(reason, 1, 1, stop_sequence="X" if reason == "stop_sequence" else None)  # type: ignore[arg-type]
    answer = message("msg_1", "m", [end])
    assert answer.stop_reason == expected
    assert answer.content == []


def parse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.strip().split("\n\n"):
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name_line.removeprefix("event: ")
        events.append((data["type"], data))
    return events


def test_stream_event_sequence() -> None:
    stream = MessageStream("msg_1", "local/tiny-a", input_tokens=5)
    text = stream.start()
    text += stream.feed([TextOut("Hi"), TextOut(" there")])
    text += stream.feed([CallOut("call_1", "f", '{"a":1}'), TurnEnd("tool_calls", 5, 4)])
    events = parse_events(text)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] == 5  # type: ignore[index]
    assert events[2][1]["index"] == 0
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "Hi"}
    assert events[6][1]["index"] == 1
    assert events[6][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "f",
        "input": {},
    }
    assert events[7][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"a":1}'}
    delta = events[9][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 4  # type: ignore[index]
