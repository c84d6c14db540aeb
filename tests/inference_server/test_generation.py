"""Generation over real HTTP against a real inference server subprocess."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.parse
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import Service

MODEL = "local/tiny-a"


def chat_body(content: str = "hello there", **kw: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        **kw,
    }


def post(service: Service, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(service.url + path, json=body, timeout=60)


def sse_events(text: str) -> list[Any]:
    events = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                payload = line[len("data: ") :]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def pool(service: Service) -> dict[str, Any]:
    return httpx.get(service.url + "/admin/pool", timeout=10).json()


def slot(service: Service, model: str = MODEL) -> dict[str, Any]:
    return next(s for s in pool(service)["slots"] if s["id"] == model)


def test_chat_completion(inference: Service) -> None:
    r = post(inference, "/v1/chat/completions", chat_body(max_tokens=8))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_greedy_is_deterministic(inference: Service) -> None:
    a = post(inference, "/v1/chat/completions", chat_body(max_tokens=12)).json()
    b = post(inference, "/v1/chat/completions", chat_body(max_tokens=12)).json()
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]


def test_seed_makes_sampling_reproducible(inference: Service) -> None:
    body = chat_body(max_tokens=12, temperature=1.0, seed=42)
    a = post(inference, "/v1/chat/completions", body).json()
    b = post(inference, "/v1/chat/completions", body).json()
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]


def test_stream_role_first_then_content_then_usage(inference: Service) -> None:
    body = chat_body(max_tokens=10, stream=True, stream_options={"include_usage": True})
    r = post(inference, "/v1/chat/completions", body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) >= 2
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] <= 10
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    plain = post(inference, "/v1/chat/completions", chat_body(max_tokens=10)).json()
    assert streamed == plain["choices"][0]["message"]["content"]


def test_legacy_completion_and_echo(inference: Service) -> None:
    r = post(
        inference,
        "/v1/completions",
        {"model": MODEL, "prompt": "the quick", "max_tokens": 6, "temperature": 0},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion"
    text = body["choices"][0]["text"]
    echoed = post(
        inference,
        "/v1/completions",
        {"model": MODEL, "prompt": "the quick", "max_tokens": 6, "temperature": 0, "echo": True},
    ).json()
    assert echoed["choices"][0]["text"] == "the quick" + text
    stream = post(
        inference,
        "/v1/completions",
        {"model": MODEL, "prompt": "the quick", "max_tokens": 6, "temperature": 0, "stream": True},
    )
    events = sse_events(stream.text)
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == text


def _text_with_room_for_a_stop(inference: Service) -> tuple[dict[str, Any], str]:
    """A greedy generation long enough to cut in the middle (random weights may end early)."""
    for i in range(20):
        body = chat_body(f"tell me something, take {i}", max_tokens=40)
        full = post(inference, "/v1/chat/completions", body).json()
        text = full["choices"][0]["message"]["content"]
        if len(text) >= 12 and "\ufffd" not in text[len(text) // 3 : len(text) // 3 + 4]:
            return body, text
    pytest.fail("no generation long enough")


def test_stop_string_across_token_boundaries(inference: Service) -> None:
    body, text = _text_with_room_for_a_stop(inference)
    full = post(inference, "/v1/chat/completions", body).json()
    tokens = full["usage"]["completion_tokens"]
    # Four characters from the middle of the text: in a byte-level BPE output of random
    # weights they span a token boundary (checked below through the token count).
    start = len(text) // 3
    stop = text[start : start + 4]
    first = text.find(stop)
    r = post(inference, "/v1/chat/completions", {**body, "stop": [stop]}).json()
    assert r["choices"][0]["message"]["content"] == text[:first]
    assert r["choices"][0]["finish_reason"] == "stop"
    assert r["usage"]["completion_tokens"] < tokens
    streamed = post(inference, "/v1/chat/completions", {**body, "stop": stop, "stream": True})
    chunks = [e for e in sse_events(streamed.text)[:-1] if e["choices"]]
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks]
    assert "".join(pieces) == text[:first]
    assert not any(stop in p for p in pieces)


def test_logprobs(inference: Service) -> None:
    r = post(
        inference, "/v1/chat/completions", chat_body(max_tokens=4, logprobs=True, top_logprobs=3)
    )
    body = r.json()
    content = body["choices"][0]["logprobs"]["content"]
    assert len(content) == body["usage"]["completion_tokens"]
    for entry in content:
        assert entry["logprob"] <= 0
        assert len(entry["top_logprobs"]) == 3
        # greedy: the chosen token is the most likely one
        assert entry["logprob"] == pytest.approx(entry["top_logprobs"][0]["logprob"], abs=1e-4)


def test_context_length_exceeded(inference: Service) -> None:
    long = "the quick brown fox " * 400
    r = post(inference, "/v1/chat/completions", chat_body(long, max_tokens=4))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["src"] == "inference_server"


def test_max_tokens_above_cap(inference: Service) -> None:
    r = post(inference, "/v1/chat/completions", chat_body(max_tokens=100_000))
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "max_tokens"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ],
)
def test_validation_errors_in_the_envelope(
    inference: Service, body: dict[str, Any], param: str
) -> None:
    r = post(inference, "/v1/chat/completions", {**chat_body(), **body})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith(param)


def test_unknown_fields_are_refused_by_name(inference: Service) -> None:
    r = post(inference, "/v1/chat/completions", chat_body(max_tokens=2, some_future_field={"x": 1}))
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", "some_future_field")
    assert (
        post(inference, "/v1/chat/completions", chat_body(max_tokens=2, user="u")).status_code
        == 200
    )


def test_unknown_model(inference: Service) -> None:
    r = post(inference, "/v1/chat/completions", {**chat_body(), "model": "nobody/nothing"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


def test_batched_requests_match_serial_greedy(inference: Service) -> None:
    prompts = [f"hello number {i}" for i in range(6)]
    serial = [
        post(inference, "/v1/chat/completions", chat_body(p, max_tokens=12)).json()["choices"][0][
            "message"
        ]["content"]
        for p in prompts
    ]

    async def run_all() -> list[str]:
        async with httpx.AsyncClient(base_url=inference.url, timeout=60) as client:
            responses = await asyncio.gather(
                *(
                    client.post("/v1/chat/completions", json=chat_body(p, max_tokens=12))
                    for p in prompts
                )
            )
        return [r.json()["choices"][0]["message"]["content"] for r in responses]

    assert asyncio.run(run_all()) == serial


def _long_generation(inference: Service) -> tuple[dict[str, Any], int, float]:
    """A greedy request that runs for hundreds of tokens: (body, tokens, seconds)."""
    cards = httpx.get(inference.url + "/v1/models").json()["data"]
    context = next(c["contextLength"] for c in cards if c["id"] == MODEL)
    for i in range(10):
        body = chat_body(f"write a long story, take {i}", max_tokens=context - 64)
        started = time.monotonic()
        r = post(inference, "/v1/chat/completions", body).json()
        elapsed = time.monotonic() - started
        if r["usage"]["completion_tokens"] >= 200:
            return body, r["usage"]["completion_tokens"], elapsed
    pytest.fail("no long generation found")


def _wait_idle(inference: Service) -> None:
    deadline = time.monotonic() + 10
    while slot(inference)["active_requests"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slot(inference)["active_requests"] == 0


def test_disconnect_stops_generation(inference: Service) -> None:
    body, full_tokens, _ = _long_generation(inference)
    before = slot(inference)["tokens_generated"]
    seen = 0
    with (
        httpx.Client(base_url=inference.url, timeout=60) as client,
        client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                seen += 1
            if seen >= 5:
                break
    assert seen >= 5
    _wait_idle(inference)
    settled = slot(inference)["tokens_generated"]
    time.sleep(0.3)
    assert slot(inference)["tokens_generated"] == settled  # nothing runs on
    generated = settled - before
    assert generated < full_tokens // 2, (generated, full_tokens)


def test_non_streaming_disconnect_stops_generation(inference: Service) -> None:
    """A client that leaves a non-streamed request stops its generation.

    The client leaves once the server has generated a few tokens (read from the pool's live
    counter), not after a fixed time: on a machine whose speed changes under other load, a
    timeout measured on one request said nothing about the next."""
    body, full_tokens, _ = _long_generation(inference)
    before = slot(inference)["tokens_generated"]
    address = urllib.parse.urlsplit(inference.url)
    payload = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(head.encode() + payload)
        deadline = time.monotonic() + 60
        while slot(inference)["tokens_generated"] - before < 5:
            assert time.monotonic() < deadline, "generation never started"
            time.sleep(0.01)
    _wait_idle(inference)
    generated = slot(inference)["tokens_generated"] - before
    assert generated < full_tokens * 0.8, (generated, full_tokens)


def test_models_list_and_admin(inference: Service) -> None:
    r = httpx.get(inference.url + "/v1/models")
    ids = {m["id"]: m for m in r.json()["data"]}
    assert {"local/tiny-a", "local/tiny-b"} <= set(ids)
    assert ids["local/tiny-a"]["contextLength"] > 0
    load = httpx.post(
        inference.url + "/admin/models/local/tiny-b/load", json={"pin": True}, timeout=60
    )
    assert load.status_code == 200 and load.json()["slot"]["pinned"] is True
    states = {m["id"]: m["state"] for m in httpx.get(inference.url + "/v1/models").json()["data"]}
    assert states["local/tiny-b"] == "loaded"
    unload = httpx.post(inference.url + "/admin/models/local/tiny-b/unload")
    assert unload.json() == {"id": "local/tiny-b", "unloaded": True}
    bad = httpx.post(inference.url + "/admin/models/..%2Fetc/load")
    assert bad.status_code in (400, 404)


def test_two_models_alternate_without_reloads(inference: Service) -> None:
    for i in range(6):
        model = "local/tiny-a" if i % 2 == 0 else "local/tiny-c"
        r = post(inference, "/v1/chat/completions", {**chat_body(max_tokens=2), "model": model})
        assert r.status_code == 200
    assert slot(inference, "local/tiny-a")["load_count"] == 1
    assert slot(inference, "local/tiny-c")["load_count"] == 1


def test_second_turn_reuses_the_prompt_cache(inference: Service) -> None:
    turn1 = [{"role": "user", "content": "tell me about the quick brown fox"}]
    first = post(
        inference, "/v1/chat/completions", {**chat_body(max_tokens=8), "messages": turn1}
    ).json()
    reply = first["choices"][0]["message"]["content"]
    turn2 = [
        *turn1,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "and then?"},
    ]
    second = post(
        inference, "/v1/chat/completions", {**chat_body(max_tokens=4), "messages": turn2}
    ).json()
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached >= first["usage"]["prompt_tokens"]
    assert cached < second["usage"]["prompt_tokens"]


@pytest.mark.parametrize("content", ["one token only", "a different prompt, a bit longer"])
def test_one_token_request_matches_the_batched_first_token(
    inference: Service, content: str
) -> None:
    # A one-token request is answered outside the batch, in one forward pass; it must pick
    # the token the batch would have picked first, with the same log-probability.
    def first_token(max_tokens: int) -> dict[str, Any]:
        body = chat_body(content, max_tokens=max_tokens, logprobs=True, top_logprobs=2)
        r = post(inference, "/v1/chat/completions", body)
        assert r.status_code == 200, r.text
        choice = r.json()["choices"][0]
        entry: dict[str, Any] = choice["logprobs"]["content"][0]
        return {**entry, "finish_reason": choice["finish_reason"]}

    longer = first_token(6)
    single = first_token(1)
    assert single["token"] == longer["token"]
    assert single["logprob"] == pytest.approx(longer["logprob"], abs=1e-2)
    assert [t["token"] for t in single["top_logprobs"]] == [
        t["token"] for t in longer["top_logprobs"]
    ]
    assert single["finish_reason"] in ("length", "stop")


def test_one_token_requests_stream_and_reuse_the_prompt_cache(inference: Service) -> None:
    body = chat_body(
        "cache me once", max_tokens=1, stream=True, stream_options={"include_usage": True}
    )
    first = post(inference, "/v1/chat/completions", body)
    second = post(inference, "/v1/chat/completions", body)
    for r in (first, second):
        events = sse_events(r.text)
        assert events[0]["choices"][0]["delta"]["role"] == "assistant"
        assert events[-1] == "[DONE]"
        finishes = [c["finish_reason"] for e in events[:-1] for c in e["choices"]]
        assert finishes[-1] in ("length", "stop")
    usage = sse_events(second.text)[-2]["usage"]
    assert usage["completion_tokens"] <= 1
    # The first request left the whole prompt in the cache; only its last token is redone.
    assert usage["prompt_tokens_details"]["cached_tokens"] == usage["prompt_tokens"] - 1
    # A longer generation from the same prompt starts from that cache too.
    longer = post(inference, "/v1/chat/completions", {**body, "stream": False, "max_tokens": 4})
    cached = longer.json()["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached == usage["prompt_tokens"] - 1


def test_one_token_request_takes_no_batch_step(inference: Service) -> None:
    def decode_steps() -> float:
        text = httpx.get(inference.url + "/metrics", timeout=10).text
        line = next(
            x for x in text.splitlines() if x.startswith("modelyard_inference_batch_size_count")
        )
        return float(line.split()[-1])

    before = decode_steps()
    assert (
        post(inference, "/v1/chat/completions", chat_body("step", max_tokens=1)).status_code == 200
    )
    assert decode_steps() == before
    assert (
        post(inference, "/v1/chat/completions", chat_body("step", max_tokens=2)).status_code == 200
    )
    assert decode_steps() > before
