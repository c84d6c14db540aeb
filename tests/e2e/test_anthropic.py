"""The official ``anthropic`` client against the manager, which forwards to a real inference
server: Messages, streaming, stop sequences, token counting, images, errors in Anthropic's
shape."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from tests.e2e.conftest import TOKEN, TOOLS_MODEL, VISION_MODEL, Stack

MODEL = TOOLS_MODEL
HI: list[MessageParam] = [{"role": "user", "content": "hello"}]
GREEDY = {"temperature": 0}  # the SDK takes sampling fields through extra_body


@pytest.fixture
def client(tools_stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=tools_stack.manager.url, api_key=TOKEN, max_retries=0
    ) as client:
        yield client


def test_message(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model=MODEL,
        max_tokens=8,
        system="You are terse.",
        messages=HI,
    )
    assert reply.type == "message"
    assert reply.role == "assistant"
    assert reply.id.startswith("msg_")
    assert reply.model == MODEL
    assert reply.stop_reason in {"end_turn", "max_tokens"}
    assert [block.type for block in reply.content] == ["text"]
    assert reply.usage.input_tokens > 0
    assert 0 < reply.usage.output_tokens <= 8


def test_streamed_message_equals_whole_at_temperature_zero(client: anthropic.Anthropic) -> None:
    whole = client.messages.create(
        model=MODEL,
        max_tokens=10,
        messages=HI,
        extra_body=GREEDY,
    )
    with client.messages.stream(
        model=MODEL,
        max_tokens=10,
        messages=HI,
        extra_body=GREEDY,
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert final.content[0].type == "text" and whole.content[0].type == "text"
    assert final.content[0].text == whole.content[0].text
    assert final.stop_reason == whole.stop_reason
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens


def test_raw_stream_carries_ping_and_usage(tools_stack: Stack) -> None:
    body = {"model": MODEL, "max_tokens": 4, "messages": HI, "stream": True}
    with httpx.stream(
        "POST", f"{tools_stack.manager.url}/v1/messages", json=body, headers={"x-api-key": TOKEN}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        names = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert names[:2] == ["message_start", "ping"]
    assert names[-1] == "message_stop"


def test_stop_sequence_is_named(client: anthropic.Anthropic) -> None:
    whole = client.messages.create(
        model=MODEL,
        max_tokens=24,
        messages=HI,
        extra_body=GREEDY,
    )
    assert whole.content[0].type == "text"
    text = whole.content[0].text
    stop = text[6:9]
    assert len(stop) == 3, "the tiny model should say more than nine characters"
    cut = client.messages.create(
        model=MODEL,
        max_tokens=24,
        messages=HI,
        stop_sequences=[stop, "\x00never"],
        extra_body=GREEDY,
    )
    assert cut.stop_reason == "stop_sequence"
    assert cut.stop_sequence == stop
    assert cut.content[0].type == "text"
    assert cut.content[0].text == text[: text.index(stop)]
    assert cut.usage.output_tokens < whole.usage.output_tokens


def test_count_tokens_matches_the_prompt(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, system="Be brief.", messages=HI)
    reply = client.messages.create(
        model=MODEL,
        max_tokens=1,
        system="Be brief.",
        messages=HI,
    )
    assert counted.input_tokens == reply.usage.input_tokens > 0


def test_bearer_token_works_too(tools_stack: Stack) -> None:
    with anthropic.Anthropic(
        base_url=tools_stack.manager.url, auth_token=TOKEN, max_retries=0
    ) as bearer:
        reply = bearer.messages.create(model=MODEL, max_tokens=1, messages=HI)
    assert reply.usage.output_tokens == 1


def test_errors_use_the_sdk_classes(tools_stack: Stack, client: anthropic.Anthropic) -> None:
    with (
        anthropic.Anthropic(
            base_url=tools_stack.manager.url, api_key="wrong", max_retries=0
        ) as wrong,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        wrong.messages.create(model=MODEL, max_tokens=1, messages=HI)
    assert caught.value.type == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="local/not-here", max_tokens=1, messages=HI)
    assert missing.value.type == "not_found_error"
    assert missing.value.error_code == "model_not_found"
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model=MODEL,
            max_tokens=1,
            messages=HI,
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    assert bad.value.type == "invalid_request_error"
    assert "thinking" in str(bad.value)


def test_missing_max_tokens_is_a_400_in_anthropic_shape(tools_stack: Stack) -> None:
    response = httpx.post(
        f"{tools_stack.manager.url}/v1/messages",
        json={"model": MODEL, "messages": HI},
        headers={"x-api-key": TOKEN},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"enum": ["Oslo", "Paris"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def test_forced_tool_use_and_its_result(client: anthropic.Anthropic) -> None:
    """tool_choice naming a tool: constrained decoding makes even a random model call it with
    an input that fits the schema; the call then goes back with its result."""
    ask: list[MessageParam] = [{"role": "user", "content": "Weather in Oslo?"}]
    reply = client.messages.create(
        model=MODEL,
        max_tokens=150,
        messages=ask,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    assert reply.stop_reason == "tool_use"
    calls = [block for block in reply.content if block.type == "tool_use"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert isinstance(call.input, dict) and call.input["city"] in {"Oslo", "Paris"}
    assert set(call.input) == {"city"}
    # The same, streamed, assembles into the same call (input_json_delta).
    with client.messages.stream(
        model=MODEL,
        max_tokens=150,
        messages=ask,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        extra_body=GREEDY,
    ) as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_message()
    assert "input_json" in kinds
    assert streamed.stop_reason == "tool_use"
    streamed_call = next(block for block in streamed.content if block.type == "tool_use")
    assert set(streamed_call.input) == {"city"}
    # The round trip: the call and its result go back; the model answers in text.
    follow = client.messages.create(
        model=MODEL,
        max_tokens=8,
        tools=[WEATHER],
        messages=[
            *ask,
            {"role": "assistant", "content": reply.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Rain."}],
            },
        ],
    )
    assert follow.stop_reason in {"end_turn", "max_tokens", "tool_use"}
    assert follow.usage.input_tokens > reply.usage.input_tokens
    counted = client.messages.count_tokens(model=MODEL, messages=ask, tools=[WEATHER])
    assert counted.input_tokens == reply.usage.input_tokens


def png_base64(width: int = 56, height: int = 56) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), (30, 200, 30))
    for x in range(0, width, 5):  # a pattern, so that patches differ
        image.putpixel((x, x % height), (x % 256, 90, 255 - x % 256))
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def image_turn(text: str = "What colour is it?") -> list[MessageParam]:
    source: Any = {"type": "base64", "media_type": "image/png", "data": png_base64()}
    return [
        {
            "role": "user",
            "content": [{"type": "image", "source": source}, {"type": "text", "text": text}],
        }
    ]


def test_image_blocks_on_a_vision_model(client: anthropic.Anthropic) -> None:
    """An image block reaches the vision-language model: its tokens count in the usage and in
    count_tokens alike; streamed, the same reply."""
    messages = image_turn()
    reply = client.messages.create(
        model=VISION_MODEL, max_tokens=6, messages=messages, extra_body=GREEDY
    )
    assert reply.content[0].type == "text" and reply.content[0].text
    text_only = client.messages.create(
        model=VISION_MODEL,
        max_tokens=1,
        messages=[{"role": "user", "content": "What colour is it?"}],
    )
    # a 56 x 56 image is 4 merged patches between the vision start and end tokens
    assert reply.usage.input_tokens == text_only.usage.input_tokens + 2 + 4
    counted = client.messages.count_tokens(model=VISION_MODEL, messages=messages)
    assert counted.input_tokens == reply.usage.input_tokens
    with client.messages.stream(
        model=VISION_MODEL, max_tokens=6, messages=messages, extra_body=GREEDY
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "text"
    assert streamed.content[0].text == reply.content[0].text


def test_image_blocks_on_a_text_model_are_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=MODEL, max_tokens=1, messages=image_turn())
    assert caught.value.type == "invalid_request_error"
    assert caught.value.error_code == "images_not_supported"
    with pytest.raises(anthropic.BadRequestError) as counted:
        client.messages.count_tokens(model=MODEL, messages=image_turn())
    assert counted.value.error_code == "images_not_supported"
