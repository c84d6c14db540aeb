"""Honest refusals: every request field is implemented or refused by name; harmless ones are
listed and ignored; bad text and oversized prompts are 400s that never block the server."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import Service
from shared_schemas.openai import IGNORED_FIELDS, ChatCompletionRequest, CompletionRequest

MODEL = "local/tools"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 2}
COMPLETION = {"model": MODEL, "prompt": "hello", "max_tokens": 2}


def post(service: Service, path: str, payload: Any, **kw: Any) -> httpx.Response:
    return httpx.post(service.url + path, json=payload, timeout=120, **kw)


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/v1/chat/completions", "audio", {"voice": "alloy", "format": "mp3"}),
        ("/v1/chat/completions", "modalities", ["text", "audio"]),
        ("/v1/chat/completions", "prediction", {"type": "content", "content": "x"}),
        ("/v1/chat/completions", "functions", [{"name": "f"}]),
        ("/v1/chat/completions", "function_call", "auto"),
        ("/v1/chat/completions", "reasoning_effort", "low"),
        ("/v1/chat/completions", "top_k", 5),
        ("/v1/chat/completions", "some_future_field", {"x": 1}),
        ("/v1/chat/completions", "n", 2),
        ("/v1/completions", "n", 3),
        ("/v1/completions", "best_of", 2),
        ("/v1/completions", "suffix", "tail"),
        ("/v1/completions", "logprobs", 2),
    ],
)
def test_unsupported_fields_are_refused_by_name(
    tooling: Service, path: str, field: str, value: Any
) -> None:
    base = CHAT if "chat" in path else COMPLETION
    r = post(tooling, path, {**base, field: value})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        "unsupported_parameter",
        field,
        "invalid_request_error",
    )
    assert field in error["message"]


def test_harmless_fields_are_accepted_and_listed(tooling: Service) -> None:
    values = {
        "user": "u1",
        "safety_identifier": "s1",
        "metadata": {"k": "v"},
        "store": False,
        "service_tier": "auto",
        "prompt_cache_key": "p",
    }
    assert set(values) == set(IGNORED_FIELDS)
    for model in (ChatCompletionRequest, CompletionRequest):
        assert set(IGNORED_FIELDS) <= set(model.model_fields)
    assert post(tooling, "/v1/chat/completions", {**CHAT, **values}).status_code == 200
    assert post(tooling, "/v1/completions", {**COMPLETION, **values}).status_code == 200
    # n=1, best_of=1 and an empty suffix ask for nothing unsupported.
    ok = post(tooling, "/v1/completions", {**COMPLETION, "n": 1, "best_of": 1, "suffix": ""})
    assert ok.status_code == 200


def test_echoed_assistant_fields_are_tolerated(tooling: Service) -> None:
    # Clients send earlier answers back as they got them (refusal, annotations...).
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "refusal": None, "annotations": []},
        {"role": "user", "content": "again"},
    ]
    assert post(tooling, "/v1/chat/completions", {**CHAT, "messages": messages}).status_code == 200


def test_logit_bias_steers_and_is_checked(tooling: Service) -> None:
    forced = post(
        tooling,
        "/v1/chat/completions",
        {**CHAT, "max_tokens": 4, "logprobs": True, "logit_bias": {"300": 100}, "temperature": 1},
    ).json()
    tokens = [t["token"] for t in forced["choices"][0]["logprobs"]["content"]]
    assert len(set(tokens)) == 1 and len(tokens) == 4
    banned_first = post(
        tooling,
        "/v1/chat/completions",
        {**CHAT, "max_tokens": 1, "temperature": 0, "logprobs": True},
    ).json()
    first = banned_first["choices"][0]["logprobs"]["content"][0]["token"]
    assert first != tokens[0]
    too_big = post(tooling, "/v1/chat/completions", {**CHAT, "logit_bias": {"999999": 1}})
    assert too_big.status_code == 400 and too_big.json()["error"]["param"] == "logit_bias"
    not_an_id = post(tooling, "/v1/chat/completions", {**CHAT, "logit_bias": {"abc": 1}})
    assert not_an_id.status_code == 400 and not_an_id.json()["error"]["param"] == "logit_bias"


def test_lone_surrogate_is_400_not_500(tooling: Service) -> None:
    r"""Reproduction: ``{"content": "\ud800"}`` in a message used to answer 500 (the
    tokenizer cannot encode it). It is a 400 ``invalid_request_error`` naming where it is."""
    raw = b'{"model": "local/tools", "messages": [{"role": "user", "content": "a\\ud800b"}]}'
    for path, payload in (
        ("/v1/chat/completions", raw),
        ("/v1/completions", b'{"model": "local/tools", "prompt": "\\udfff"}'),
    ):
        r = httpx.post(
            tooling.url + path,
            content=payload,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "surrogate" in error["message"]
        assert error["message"].startswith("messages.0.content" if "chat" in path else "prompt")


def test_prompt_longer_than_any_context_is_refused_before_tokenizing(tooling: Service) -> None:
    """Reproduction: a prompt of megabytes was tokenized on the event loop before the
    context check. Now text that cannot fit (more characters than the context times the
    longest token) is refused at once, before tokenizing."""
    huge = "the cat sat on the mat. " * 200_000  # 4.8 MB; the model's bound is 69,632
    r = post(
        tooling, "/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": huge}]}
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["details"]["prompt_chars"] == len(huge)
    assert "prompt_tokens" not in error["details"]  # never tokenized


def test_health_answers_while_a_huge_prompt_is_tokenized(tooling: Service) -> None:
    """Reproduction: a 6 MB prompt blocked the inference server's /health for 5.5 s, because
    the prompt was tokenized on the event loop. Tokenizing now runs in a thread: /health keeps
    answering while a megabyte prompt is tokenized (it fits the length bound of this model's
    100,000-token context, and is then refused for its token count)."""
    text = "the cat sat on the mat. " * 42_000  # 1 MB, some 375,000 tokens
    payload = {
        **CHAT,
        "model": "local/huge-context",
        "messages": [{"role": "user", "content": text}],
    }
    assert (
        post(
            tooling,
            "/v1/chat/completions",
            {**payload, "messages": [{"role": "user", "content": "warm"}]},
        ).status_code
        == 200
    )
    result: dict[str, httpx.Response] = {}

    def send() -> None:
        result["r"] = post(tooling, "/v1/chat/completions", payload)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)  # the body is on its way and being tokenized
    answered_meanwhile = 0
    with httpx.Client(base_url=tooling.url, timeout=30) as client:
        for _ in range(5):
            assert client.get("/health").status_code == 200
            if sender.is_alive():
                answered_meanwhile += 1
    sender.join()
    error = result["r"].json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["details"]["prompt_tokens"] > 100_000  # it was tokenized, in full
    assert answered_meanwhile >= 3


def test_chat_template_errors_are_400() -> None:
    """A chat template that raises on the messages (e.g. "roles must alternate") is a 400
    ``chat_template_error`` naming ``messages``, not a 500."""
    import jinja2

    from inference_server.errors import BadRequestError
    from inference_server.generation.prepare import tokenize

    class Runtime:
        tokenizer_lock = threading.Lock()
        tokenizer = None
        max_token_chars = 17

    def encode(_tokenizer: object) -> list[int]:
        raise jinja2.exceptions.TemplateError("Conversation roles must alternate")

    with pytest.raises(BadRequestError) as caught:
        tokenize(Runtime(), encode, prompt_chars=10, context_length=512, param="messages")
    assert (caught.value.code, caught.value.param) == ("chat_template_error", "messages")
    assert "alternate" in caught.value.message


def test_models_carry_capabilities(tooling: Service) -> None:
    cards = {m["id"]: m for m in httpx.get(tooling.url + "/v1/models", timeout=30).json()["data"]}
    assert "tools" in cards["local/tools"]["capabilities"]
    assert "tools" not in cards["local/plain"]["capabilities"]
    for card in cards.values():
        assert {"chat", "completion", "json_schema", "json_object", "logprobs"} <= set(
            card["capabilities"]
        )
    one = httpx.get(tooling.url + "/v1/models/local/tools", timeout=30).json()
    assert one["capabilities"] == cards["local/tools"]["capabilities"]
