"""Structured outputs on a real server: json_schema / json_object / format, streamed and not,
alone and in a batch of mixed requests, and schemas the grammar engine refuses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jsonschema
import pytest

from modelyard_dev.procs import Service

MODEL = "local/tools"
PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "colour": {"enum": ["red", "green", "blue"]},
        "member": {"type": "boolean"},
    },
    "required": ["name", "age", "colour", "member"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
MAX_TOKENS = 120


def body(seed: int, **kw: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"describe person {seed}"}],
        "temperature": 1.0,
        "seed": seed,
        "max_tokens": MAX_TOKENS,
        "response_format": RESPONSE_FORMAT,
        **kw,
    }


def sse(text: str) -> list[Any]:
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def streamed(text: str) -> tuple[str, str | None]:
    content, finish = "", None
    for chunk in sse(text):
        for choice in chunk["choices"]:
            content += choice["delta"].get("content") or ""
            finish = choice["finish_reason"] or finish
    return content, finish


def check(content: str, finish: str | None) -> None:
    assert finish == "stop", (finish, content)  # 120 tokens are plenty for this object
    value = json.loads(content)
    jsonschema.validate(value, PERSON)
    assert " " not in content.replace(value["name"], "")  # compact: no free whitespace


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_json_schema_validates_for_20_seeds(tooling: Service, stream: bool) -> None:
    with httpx.Client(base_url=tooling.url, timeout=120) as client:
        for seed in range(20):
            r = client.post("/v1/chat/completions", json=body(seed, stream=stream))
            assert r.status_code == 200, r.text
            if stream:
                check(*streamed(r.text))
            else:
                choice = r.json()["choices"][0]
                check(choice["message"]["content"], choice["finish_reason"])


def test_cut_off_json_says_length(tooling: Service) -> None:
    r = httpx.post(tooling.url + "/v1/chat/completions", json=body(1, max_tokens=3), timeout=60)
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    with pytest.raises(ValueError):
        json.loads(choice["message"]["content"])


def test_json_object_and_ollama_format(tooling: Service) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    answers = [
        httpx.post(
            tooling.url + "/v1/completions",
            json={"model": MODEL, "prompt": "answer:", "max_tokens": 40, "format": schema},
            timeout=60,
        ).json()["choices"][0],
        httpx.post(
            tooling.url + "/v1/chat/completions",
            json={**body(3), "response_format": None, "format": schema},
            timeout=60,
        ).json()["choices"][0],
    ]
    for choice in answers:
        text = choice.get("text") or choice["message"]["content"]
        if choice["finish_reason"] == "stop":
            jsonschema.validate(json.loads(text), schema)
        else:
            assert choice["finish_reason"] == "length"
            assert text.startswith("{")
    json_mode = httpx.post(
        tooling.url + "/v1/chat/completions",
        json={**body(4), "response_format": {"type": "json_object"}, "max_tokens": 8},
        timeout=60,
    ).json()["choices"][0]
    assert json_mode["message"]["content"].startswith("{")


def batch_sizes(service: Service) -> dict[str, float]:
    text = httpx.get(service.url + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith("modelyard_inference_batch_size_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.split()[-1])
    return out


WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"enum": ["Paris", "Rome"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}


def test_batch_of_eight_mixed_requests(tooling: Service) -> None:
    """json_schema (streamed and not), forced tool calls and plain requests decode together,
    each with its own constraint (or none)."""
    tool_body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER],
        "max_tokens": 150,
        "temperature": 1.0,
        "parallel_tool_calls": False,
    }
    requests: list[tuple[str, dict[str, Any]]] = [
        ("schema", body(100)),
        ("schema", body(101)),
        ("schema-stream", body(102, stream=True)),
        ("schema-stream", body(103, stream=True)),
        ("tool", {**tool_body, "tool_choice": "required", "seed": 1}),
        (
            "tool",
            {
                **tool_body,
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "seed": 2,
            },
        ),
        (
            "plain",
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 40,
                "temperature": 0,
            },
        ),
        (
            "plain",
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "yo"}],
                "max_tokens": 40,
                "temperature": 0,
            },
        ),
    ]
    before = batch_sizes(tooling)

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=tooling.url, timeout=180) as client:
            return await asyncio.gather(
                *(client.post("/v1/chat/completions", json=b) for _, b in requests)
            )

    responses = asyncio.run(run())
    for (kind, _), r in zip(requests, responses, strict=True):
        assert r.status_code == 200, r.text
        if kind == "schema":
            choice = r.json()["choices"][0]
            check(choice["message"]["content"], choice["finish_reason"])
        elif kind == "schema-stream":
            check(*streamed(r.text))
        elif kind == "tool":
            choice = r.json()["choices"][0]
            assert choice["finish_reason"] == "tool_calls", choice
            for call in choice["message"]["tool_calls"]:
                assert call["function"]["name"] == "get_weather"
                jsonschema.validate(
                    json.loads(call["function"]["arguments"]), WEATHER["function"]["parameters"]
                )
        else:
            choice = r.json()["choices"][0]
            assert choice["finish_reason"] in ("stop", "length")
    after = batch_sizes(tooling)
    # Some steps decoded more than four sequences together.
    more_than_four = (after["+Inf"] - after["4.0"]) - (before["+Inf"] - before["4.0"])
    assert more_than_four > 0


@pytest.mark.parametrize(
    ("schema", "pointer", "reason"),
    [
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "/properties/a", "strin"),
        ({"type": "array", "items": {"type": "string", "pattern": "(?<=a)b"}}, "/items", "look"),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
            "/properties/a",
            "missing",
        ),
        ({"type": "array", "uniqueItems": True}, "", "uniqueItems"),
    ],
)
def test_invalid_schema_is_400_with_reason_and_pointer(
    tooling: Service, schema: dict[str, Any], pointer: str, reason: str
) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    r = httpx.post(
        tooling.url + "/v1/chat/completions", json={**body(0), "response_format": fmt}, timeout=30
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_schema"
    assert error["param"] == "response_format.json_schema.schema"
    assert reason in error["details"]["reason"]
    assert error["details"]["pointer"] == pointer


def test_invalid_tool_parameters_are_400_naming_the_tool(tooling: Service) -> None:
    bad = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {"type": "object", "properties": {"x": {"type": "nope"}}},
        },
    }
    r = httpx.post(
        tooling.url + "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [WEATHER, bad],
        },
        timeout=30,
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_schema", "tools.1.function.parameters")
    assert error["details"]["pointer"] == "/properties/x"
