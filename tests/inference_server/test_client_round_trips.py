"""Tool-calling round trips through real clients: the official ``openai`` client (tool calls, a tool
result, the next answer; streamed calls; ``parse`` with a pydantic model) and LangChain's
``ChatOpenAI.bind_tools``, against a real server and a random-weight model."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from modelyard_dev.procs import Service

MODEL = "local/tools"
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"enum": ["Paris", "Rome"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}]
NAMED: Any = {"type": "function", "function": {"name": "get_weather"}}


@pytest.fixture
def client(tooling: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=tooling.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_openai_client_round_trip(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=TOOLS,
        tool_choice=NAMED,
        parallel_tool_calls=False,
        max_tokens=150,
        seed=3,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), PARAMETERS)
    # The answer goes back as the client returned it, then the tool's result.
    messages.append(choice.message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"})
    second = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, max_tokens=8, temperature=0
    )
    assert second.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert second.usage is not None and second.usage.prompt_tokens > first.usage.prompt_tokens  # type: ignore[union-attr]


def test_openai_client_streams_tool_calls(client: openai.OpenAI) -> None:
    kwargs: Any = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Weather in Rome?"}],
        "tools": TOOLS,
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 150,
        "seed": 5,
    }
    whole = client.chat.completions.create(**kwargs)
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    content = ""
    finish = None
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for part in delta.tool_calls or []:
            assert part.function is not None
            names[part.index] = names.get(part.index, "") + (part.function.name or "")
            arguments[part.index] = arguments.get(part.index, "") + (part.function.arguments or "")
        finish = chunk.choices[0].finish_reason or finish
    assert content == "" and finish == "tool_calls"
    calls = whole.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        (names[i], arguments[i]) for i in sorted(names)
    ]


class Person(BaseModel):
    name: str = Field(max_length=8)
    age: int = Field(ge=0, le=120)
    colour: Literal["red", "green", "blue"]


def test_openai_client_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    for seed in range(3):
        reply = client.chat.completions.parse(
            model=MODEL,
            messages=[{"role": "user", "content": "describe someone"}],
            response_format=Person,
            max_tokens=120,
            seed=seed,
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "stop"
        assert isinstance(choice.message.parsed, Person)


class WeatherArgs(BaseModel):
    city: Literal["Paris", "Rome"]
    days: int = Field(ge=1, le=7)


def test_langchain_bind_tools_round_trip(tooling: Service) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import StructuredTool
    from langchain_openai import ChatOpenAI

    def get_weather(city: str, days: int) -> str:
        return f"sunny in {city} for {days} days"

    weather = StructuredTool.from_function(
        get_weather, name="get_weather", description="The forecast.", args_schema=WeatherArgs
    )
    llm = ChatOpenAI(
        base_url=tooling.url + "/v1",
        api_key="unused",
        model=MODEL,
        max_tokens=150,
        temperature=1.0,
        seed=11,
        max_retries=0,
    )
    forced = llm.bind_tools([weather], tool_choice="get_weather", parallel_tool_calls=False)
    question = HumanMessage("What is the weather in Paris?")
    ai = forced.invoke([question])
    assert len(ai.tool_calls) == 1
    call = ai.tool_calls[0]
    assert call["name"] == "get_weather"
    WeatherArgs.model_validate(call["args"])
    result = ToolMessage(content=weather.invoke(call["args"]), tool_call_id=call["id"])
    answer = llm.bind_tools([weather]).invoke([question, ai, result])
    assert answer.response_metadata["finish_reason"] in ("stop", "length", "tool_calls")
