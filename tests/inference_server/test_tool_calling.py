"""Tool calling on a real server with a random-weight model: forced calls validate, streaming
assembles the same calls with no markup in the content, templates without tools are refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

from modelyard_dev.procs import Service

MODEL = "local/tools"
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"enum": ["Paris", "Rome", "Oslo"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "metric": {"type": "boolean"},
    },
    "required": ["city", "days", "metric"],
    "additionalProperties": False,
}
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": PARAMETERS},
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"enum": ["UTC", "CET"]}},
            "required": ["zone"],
        },
    },
}
NAMED = {"type": "function", "function": {"name": "get_weather"}}
MARKUP = ("<tool_call>", "</tool_call>", '"arguments"', "<tool")


def body(**kw: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "what is the weather in Paris?"}],
        "tools": [WEATHER, TIME],
        "max_tokens": 150,
        "temperature": 1.0,
        "seed": 7,
        **kw,
    }


def post(service: Service, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(service.url + "/v1/chat/completions", json=payload, timeout=120)


def assemble(text: str) -> tuple[str, list[dict[str, Any]], str | None]:
    """Content, calls and finish reason from a stream, as OpenAI clients assemble them."""
    content, finish = "", None
    calls: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:])["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for part in delta.get("tool_calls") or []:
                call = calls.setdefault(
                    part["index"], {"id": None, "function": {"name": "", "arguments": ""}}
                )
                call["id"] = part.get("id") or call["id"]
                call["function"]["name"] += part["function"].get("name") or ""
                call["function"]["arguments"] += part["function"].get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return content, [calls[i] for i in sorted(calls)], finish


def call_deltas(text: str) -> list[dict[str, Any]]:
    """The ``delta.tool_calls`` entries of a stream, in order."""
    deltas: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                deltas.extend(choice["delta"].get("tool_calls") or [])
    return deltas


def check_call_order(deltas: list[dict[str, Any]]) -> None:
    """Each call opens with its index, id, type and name (no arguments yet); every delta
    after that carries argument text only, as it was generated, with no markup in it."""
    opened: set[int] = set()
    for delta in deltas:
        if delta["index"] not in opened:
            assert delta["id"].startswith("call_") and delta["type"] == "function"
            assert delta["function"]["name"] and delta["function"]["arguments"] == ""
            opened.add(delta["index"])
        else:
            assert set(delta) == {"index", "function"} and set(delta["function"]) == {"arguments"}
            assert not any(m in delta["function"]["arguments"] for m in (*MARKUP, '"name"'))
    assert opened == set(range(len(opened)))


def validate(calls: list[dict[str, Any]], name: str | None = "get_weather") -> None:
    assert calls
    schemas = {"get_weather": PARAMETERS, "get_time": TIME["function"]["parameters"]}
    for call in calls:
        assert call["id"].startswith("call_")
        if name is not None:
            assert call["function"]["name"] == name
        arguments = json.loads(call["function"]["arguments"])
        jsonschema.validate(arguments, schemas[call["function"]["name"]])


@pytest.mark.parametrize("choice", ["named", "required"])
def test_forced_calls_validate_and_stream_identically(tooling: Service, choice: str) -> None:
    tool_choice = NAMED if choice == "named" else "required"
    name = "get_weather" if choice == "named" else None
    payload = body(tool_choice=tool_choice, parallel_tool_calls=False)
    whole = post(tooling, payload)
    assert whole.status_code == 200, whole.text
    result = whole.json()["choices"][0]
    assert result["finish_reason"] == "tool_calls"
    assert result["message"]["content"] is None
    calls = result["message"]["tool_calls"]
    assert len(calls) == 1
    validate(calls, name)

    stream = post(tooling, {**payload, "stream": True})
    content, streamed_calls, finish = assemble(stream.text)
    assert finish == "tool_calls"
    assert content == ""
    assert not any(m in stream.text.split('"tool_calls"')[0] for m in MARKUP)
    strip = [{"function": c["function"]} for c in calls]
    assert [{"function": c["function"]} for c in streamed_calls] == strip
    # The arguments arrive in pieces as they are generated (one per token), after the head.
    deltas = call_deltas(stream.text)
    check_call_order(deltas)
    assert len(deltas) > 2


def test_parallel_calls_each_validate(tooling: Service) -> None:
    # With parallel calls allowed a random model may chain calls until max_tokens; every
    # complete call validates, and only a call cut off by max_tokens is dropped.
    for seed in range(3):
        payload = body(tool_choice="required", seed=seed, max_tokens=200)
        choice = post(tooling, payload).json()["choices"][0]
        assert choice["finish_reason"] in ("tool_calls", "length")
        calls = choice["message"]["tool_calls"]
        validate(calls, None)
        # Streamed, the same calls in the same order; a call cut off by max_tokens once its
        # name was written has already begun in the stream, after them.
        stream = post(tooling, {**payload, "stream": True}).text
        check_call_order(call_deltas(stream))
        content, streamed, finish = assemble(stream)
        assert (content, finish) == ("", choice["finish_reason"])
        functions = [c["function"] for c in streamed]
        assert functions[: len(calls)] == [c["function"] for c in calls]
        assert len(functions) - len(calls) in ((0, 1) if finish == "length" else (0,))


def test_auto_streams_text_without_markup(tooling: Service) -> None:
    payload = body(temperature=0, max_tokens=40)
    whole = post(tooling, payload).json()["choices"][0]
    content, calls, finish = assemble(post(tooling, {**payload, "stream": True}).text)
    assert (content, finish) == (whole["message"]["content"] or "", whole["finish_reason"])
    assert calls == (whole["message"]["tool_calls"] or [])
    assert not any(m in content for m in MARKUP)


def test_tool_none_leaves_tools_out_of_the_prompt(tooling: Service) -> None:
    with_tools = post(tooling, body(max_tokens=1)).json()["usage"]["prompt_tokens"]
    without = post(tooling, body(tool_choice="none", max_tokens=1)).json()
    assert without["usage"]["prompt_tokens"] < with_tools
    assert without["choices"][0]["message"]["tool_calls"] is None


def test_round_trip_messages_render(tooling: Service) -> None:
    first = post(tooling, body(tool_choice=NAMED, parallel_tool_calls=False)).json()
    message = first["choices"][0]["message"]
    call = message["tool_calls"][0]
    follow = {
        **body(max_tokens=8, temperature=0),
        "messages": [
            {"role": "user", "content": "what is the weather in Paris?"},
            message,
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"},
        ],
    }
    r = post(tooling, follow)
    assert r.status_code == 200, r.text
    # The conversation so far is cached: the first answer's prompt is a prefix of this one.
    usage = r.json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] >= first["usage"]["prompt_tokens"] - 1


def test_templates_without_tools_are_refused_by_name(tooling: Service) -> None:
    r = post(tooling, body(model="local/plain"))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "tools_not_supported" and "local/plain" in error["message"]
    history = {
        "model": "local/plain",
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "y"},
        ],
    }
    assert post(tooling, history).json()["error"]["code"] == "tools_not_supported"
    # tool_choice none: the tools are not used, so any model answers.
    assert (
        post(tooling, body(model="local/plain", tool_choice="none", max_tokens=2)).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"tools": None, "tool_choice": "required"}, "tool_choice", "conflicting_parameters"),
        (
            {"tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name",
            "conflicting_parameters",
        ),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            "messages.0.tool_call_id",
            "invalid_message",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools.0.function.name",
            "invalid_request",
        ),
    ],
)
def test_bad_tool_requests(tooling: Service, change: dict[str, Any], param: str, code: str) -> None:
    r = post(tooling, {**body(), **change})
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
