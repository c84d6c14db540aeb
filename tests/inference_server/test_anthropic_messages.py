"""``POST /v1/messages`` (Anthropic Messages) through both processes, with the ``anthropic`` client.

Tool use is not served on this route yet: the tests check it is refused by name.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import anthropic
import httpx
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import TINY, write_model
from modelyard_dev.tiny_multimodal import vision_files, write_files

CHAT = "local/chat-tiny"
VISION = "local/vl-tiny"
TOKEN = "messages-secret"


@dataclass
class Stack:
    manager: Service
    inference: Service
    clients: list[anthropic.Anthropic] = field(default_factory=list)

    def client(self, key: str = TOKEN) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=self.manager.url, api_key=key, max_retries=0)
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    models = tmp_path_factory.mktemp("messages-models")
    write_model(models / "chat-tiny", TINY, seed=0)
    write_files(models / "vl-tiny", vision_files(seed=0))
    logs = tmp_path_factory.mktemp("messages-logs")
    cache = tmp_path_factory.mktemp("messages-cache")
    inference = inference_service(
        {"MLX_SERVER_MODELS_DIRS": str(models), "MLX_SERVER_HF_CACHE_DIR": str(cache)},
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_API_TOKEN": TOKEN,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("messages-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(cache),
            "MODEL_MANAGER_MODELS_DIR": str(models),
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            stack = Stack(manager=manager, inference=inference)
            yield stack
            for client in stack.clients:
                client.close()
        finally:
            manager.stop()
    finally:
        inference.stop()


USER = [{"role": "user", "content": "Tell me about the old piano."}]


SAMPLING = ("temperature", "top_p", "top_k")  # not parameters of this client: sent as extra body


def create(stack: Stack, **kw: object) -> anthropic.types.Message:
    args: dict[str, object] = {"model": CHAT, "max_tokens": 12, "messages": USER}
    extra: dict[str, object] = {"temperature": 0}
    for key, value in kw.items():
        (extra if key in SAMPLING else args)[key] = value
    return stack.client().messages.create(**args, extra_body=extra)  # type: ignore[call-overload]


def test_plain_message(stack: Stack) -> None:
    message = create(stack, system="Be brief.", metadata={"user_id": "someone"})
    assert message.type == "message" and message.role == "assistant" and message.model == CHAT
    assert message.id.startswith("msg_")
    (block,) = message.content
    assert block.type == "text" and block.text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 12


def test_streamed_message_follows_anthropics_event_sequence(stack: Stack) -> None:
    expected = create(stack)
    with stack.client().messages.stream(
        model=CHAT,
        max_tokens=12,
        messages=USER,  # type: ignore[arg-type]
        extra_body={"temperature": 0},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in kinds
    assert final.content[0].text == expected.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == expected.stop_reason
    assert final.usage.output_tokens == expected.usage.output_tokens


def test_stop_sequences_name_the_one_that_matched(stack: Stack) -> None:
    text = create(stack, max_tokens=30).content[0].text  # type: ignore[union-attr]
    stop = text[8:12]
    assert stop.strip()
    message = create(stack, max_tokens=30, stop_sequences=["never-there", stop])
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == stop
    assert message.content[0].text == text[: text.index(stop)]  # type: ignore[union-attr]


def test_count_tokens_matches_the_usage(stack: Stack) -> None:
    counted = stack.client().messages.count_tokens(model=CHAT, messages=USER, system="Be brief.")  # type: ignore[arg-type]
    message = create(stack, system="Be brief.", max_tokens=1)
    assert counted.input_tokens == message.usage.input_tokens


def png_base64() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), (30, 200, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_image_block_on_a_vision_model(stack: Stack) -> None:
    content = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": png_base64()},
        },
        {"type": "text", "text": "What colour is it?"},
    ]
    message = create(
        stack, model=VISION, max_tokens=4, messages=[{"role": "user", "content": content}]
    )
    assert message.content[0].text  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError) as info:
        create(stack, messages=[{"role": "user", "content": content}])
    assert "cannot read images" in info.value.message


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}, "tools"),
        ({"tool_choice": {"type": "auto"}}, "tool_choice"),
        ({"top_k": 5}, "top_k"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"temperature": 1.5}, "temperature"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "x", "content": "1"}],
                    }
                ]
            },
            "tool_result",
        ),
    ],
)
def test_what_is_not_served_is_refused_in_anthropics_shape(
    stack: Stack, extra: dict[str, object], needle: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        create(stack, **extra)
    assert needle in info.value.message
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_not_found(stack: Stack) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        create(stack, model="local/no-such-model")
    assert (
        isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "not_found_error"
    )


def test_wrong_key_is_an_authentication_error(stack: Stack) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        stack.client("wrong").messages.create(model=CHAT, max_tokens=2, messages=USER)  # type: ignore[arg-type]


def test_malformed_body_is_a_400_in_anthropics_shape(stack: Stack) -> None:
    for body in (
        {"model": CHAT, "messages": USER},
        {"model": CHAT, "max_tokens": 0, "messages": USER},
    ):
        response = httpx.post(
            f"{stack.manager.url}/v1/messages", json=body, headers={"x-api-key": TOKEN}, timeout=30
        )
        assert response.status_code == 400
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "invalid_request_error"
