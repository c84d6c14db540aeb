"""The official ``openai`` client against the manager, which streams to a real inference server."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.e2e.conftest import TOKEN, Stack

MODEL = "local/tiny-a"


@pytest.fixture
def client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key=TOKEN, max_retries=0, timeout=60)


def test_chat_completion(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=8, seed=1
    )
    assert reply.object == "chat.completion"
    assert reply.model == MODEL
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in {"stop", "length"}
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streamed_chat_completion_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "tell me a story"}],
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 2, "content must arrive in several chunks"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in {"stop", "length"}
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    assert usage_chunks[0] is chunks[-1]
    assert usage_chunks[0].choices == []
    assert usage_chunks[0].usage is not None
    assert usage_chunks[0].usage.completion_tokens >= len(content_chunks)


def test_streamed_equals_non_streamed_at_temperature_zero(client: openai.OpenAI) -> None:
    messages: list = [{"role": "user", "content": "count"}]
    whole = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=10, temperature=0
    )
    parts = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=10, temperature=0, stream=True
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert streamed == whole.choices[0].message.content


def test_legacy_completion(client: openai.OpenAI) -> None:
    reply = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6)
    assert reply.object == "text_completion"
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert reply.usage is not None
    assert 0 < reply.usage.completion_tokens <= 6


def test_models_list(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"local/tiny-a", "local/tiny-b", "local/tiny-c"} <= ids


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="nobody/no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "model_not_found"


def test_bad_temperature_is_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], temperature=3
        )
    assert caught.value.param == "temperature"


def test_auth(stack: Stack) -> None:
    url = f"{stack.manager.url}/v1/models"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "INVALID_TOKEN"
    assert missing.json()["error"]["src"] == "manager"
    wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert httpx.get(f"{stack.manager.url}/health").status_code == 200


def test_inference_server_down_then_back(stack: Stack, client: openai.OpenAI) -> None:
    """A stopped inference server gives 503 in the envelope; after a restart, the next works."""
    stack.inference.stop()
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2
            )
        assert caught.value.status_code == 503
        body = caught.value.response.json()
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert body["error"]["src"] == "manager"
        assert caught.value.response.headers.get("retry-after")
        assert httpx.get(f"{stack.manager.url}/health").status_code == 200
    finally:
        stack.inference.start()
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi again"}], max_tokens=3
    )
    assert reply.choices[0].message.role == "assistant"


def _slot(stack: Stack, model: str) -> dict:
    slots = httpx.get(f"{stack.inference.url}/admin/pool", timeout=10).json()["slots"]
    return next(s for s in slots if s["id"] == model)


def test_client_gone_before_a_non_streamed_answer_stops_generation(stack: Stack) -> None:
    """A non-streamed answer sends nothing until it is done; a client that gives up first
    must still stop the generation upstream (the manager closes its upstream request)."""
    body = {
        "model": "local/tiny-b",
        "messages": [{"role": "user", "content": "go on and on"}],
        "max_tokens": 400,
        "temperature": 0,
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{stack.manager.url}/v1/chat/completions"
    full = httpx.post(url, json=body, headers=headers, timeout=60).json()
    finished = full["usage"]["completion_tokens"]
    assert finished >= 100, "the reference answer must be long for this test to mean anything"
    before = _slot(stack, "local/tiny-b")["tokens_generated"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=body, headers=headers, timeout=httpx.Timeout(5, read=0.15))
    deadline = time.monotonic() + 10
    while _slot(stack, "local/tiny-b")["active_requests"] and time.monotonic() < deadline:
        time.sleep(0.02)
    slot = _slot(stack, "local/tiny-b")
    assert slot["active_requests"] == 0
    generated = slot["tokens_generated"] - before
    assert generated < finished, (generated, finished)
