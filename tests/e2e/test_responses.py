"""The official ``openai`` client's Responses API against the manager (which keeps responses)
and a real inference server: plain, streamed, follow-ups, GET / DELETE, store: false."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.conftest import TOKEN, TOOLS_MODEL, Stack

MODEL = TOOLS_MODEL


@pytest.fixture
def client(tools_stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=tools_stack.base_url, api_key=TOKEN, max_retries=0, timeout=60
    ) as client:
        yield client


def test_response(client: openai.OpenAI) -> None:
    reply = client.responses.create(
        model=MODEL, input="hello", instructions="Be brief.", max_output_tokens=8
    )
    assert reply.object == "response"
    assert reply.id.startswith("resp_")
    assert reply.status in {"completed", "incomplete"}
    assert reply.to_dict()["store"] is True
    assert reply.instructions == "Be brief."
    assert reply.output[0].type == "message"
    assert reply.output_text
    assert reply.usage is not None
    assert 0 < reply.usage.output_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    stored = client.responses.retrieve(reply.id)
    assert stored.output_text == reply.output_text
    assert stored.usage is not None and stored.usage.total_tokens == reply.usage.total_tokens


def test_streamed_response_equals_whole_at_temperature_zero(client: openai.OpenAI) -> None:
    whole = client.responses.create(model=MODEL, input="count", max_output_tokens=10, temperature=0)
    events = list(
        client.responses.create(
            model=MODEL, input="count", max_output_tokens=10, temperature=0, stream=True
        )
    )
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in {"response.completed", "response.incomplete"}
    assert "response.output_text.delta" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == whole.output_text
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == whole.output_text
    assert final.to_dict()["store"] is True
    assert client.responses.retrieve(final.id).output_text == whole.output_text


def test_follow_up_carries_the_conversation(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada.", max_output_tokens=4)
    second = client.responses.create(
        model=MODEL, input="What is my name?", previous_response_id=first.id, max_output_tokens=4
    )
    assert second.previous_response_id == first.id
    assert first.usage is not None and second.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    items = list(client.responses.input_items.list(second.id))
    texts = [getattr(item, "content", None) for item in items]
    assert len(items) == 3  # first input, first output (as an assistant item), second input
    assert items[1].role == "assistant"  # type: ignore[union-attr]
    assert texts[0] is not None and texts[2] is not None
    # A third turn on top of the second, streamed.
    events = list(
        client.responses.create(
            model=MODEL,
            input="And again?",
            previous_response_id=second.id,
            max_output_tokens=4,
            stream=True,
        )
    )
    third = events[-1].response  # type: ignore[union-attr]
    assert third.previous_response_id == second.id
    assert third.usage is not None
    assert third.usage.input_tokens > second.usage.input_tokens + second.usage.output_tokens


def test_delete(client: openai.OpenAI) -> None:
    reply = client.responses.create(model=MODEL, input="hi", max_output_tokens=2)
    client.responses.delete(reply.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(reply.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(reply.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(
            model=MODEL, input="again", previous_response_id=reply.id, max_output_tokens=2
        )
    assert caught.value.code == "response_not_found"


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    reply = client.responses.create(model=MODEL, input="hi", max_output_tokens=2, store=False)
    assert reply.to_dict()["store"] is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(reply.id)
    events = list(
        client.responses.create(
            model=MODEL, input="hi", max_output_tokens=2, store=False, stream=True
        )
    )
    streamed = events[-1].response  # type: ignore[union-attr]
    assert streamed.to_dict()["store"] is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(streamed.id)


def test_unknown_previous_response_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=MODEL, input="x", previous_response_id="resp_nothing")
    assert caught.value.code == "response_not_found"
    assert caught.value.param == "previous_response_id"


WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city now.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"enum": ["Oslo", "Paris"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def test_forced_function_call_and_its_output(client: openai.OpenAI) -> None:
    """tool_choice naming a function: the call's arguments fit the schema; its output goes
    back as a function_call_output item on top of the stored response."""
    first = client.responses.create(
        model=MODEL,
        input="Weather in Oslo?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        max_output_tokens=150,
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    arguments = json.loads(call.arguments)
    assert arguments["city"] in {"Oslo", "Paris"}
    # Streamed: the same call arrives as function_call_arguments events.
    events = list(
        client.responses.create(
            model=MODEL,
            input="Weather in Oslo?",
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
            parallel_tool_calls=False,
            max_output_tokens=150,
            stream=True,
        )
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1
    assert set(json.loads(done[0].arguments)) == {"city"}
    # The output goes back on top of the stored response.
    follow = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Rain."}],
        tools=[WEATHER],
        max_output_tokens=4,
    )
    assert follow.previous_response_id == first.id
    kinds = [item.type for item in client.responses.input_items.list(follow.id)]
    assert kinds == ["message", "function_call", "function_call_output"]


def test_json_schema_output(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    reply = client.responses.create(
        model=MODEL,
        input="Answer in JSON.",
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema}},
        max_output_tokens=60,
    )
    assert reply.status == "completed"
    assert isinstance(json.loads(reply.output_text)["ok"], bool)
