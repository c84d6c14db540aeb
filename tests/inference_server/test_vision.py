"""Images in chat messages, through both processes, with the official ``openai`` client.

The model is a tiny random-weight Qwen2-VL-shaped vision-language model made on the spot,
loaded by mlx-vlm; its replies are gibberish, the path (processor, vision tower, language
model) is real.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import TINY, write_model
from modelyard_dev.tiny_multimodal import vision_files, write_files

VISION = "local/vl-tiny"
CHAT = "local/chat-tiny"
MAX_PIXELS = 200 * 200


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), colour)
    for x in range(0, width, 7):  # a pattern, so that patches differ
        image.putpixel((x, x % height), (x % 256, 255 - x % 256, 90))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_message(url: str, text: str = "What is in this picture?", **extra: Any) -> Any:
    return {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": url, **extra}},
            {"type": "text", "text": text},
        ],
    }


@dataclass
class Stack:
    manager: Service
    inference: Service
    models: Path

    @property
    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.manager.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    models = tmp_path_factory.mktemp("vision-models")
    write_files(models / "vl-tiny", vision_files(seed=0))
    write_model(models / "chat-tiny", TINY, seed=0)
    logs = tmp_path_factory.mktemp("vision-logs")
    cache = tmp_path_factory.mktemp("vision-cache")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models),
            "MLX_SERVER_HF_CACHE_DIR": str(cache),
            "MLX_SERVER_MAX_IMAGE_PIXELS": str(MAX_PIXELS),
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("vision-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(cache),
            "MODEL_MANAGER_MODELS_DIR": str(models),
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield Stack(manager=manager, inference=inference, models=models)
        finally:
            manager.stop()
    finally:
        inference.stop()


def ask(stack: Stack, messages: list[Any], **kw: Any) -> Any:
    return stack.client.chat.completions.create(
        model=VISION, messages=messages, max_tokens=kw.pop("max_tokens", 6), temperature=0, **kw
    )


def test_an_image_in_a_data_url_through_the_manager(stack: Stack) -> None:
    reply = ask(stack, [image_message(data_url(png(56, 56)))])
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    text_only = ask(stack, [{"role": "user", "content": "What is in this picture?"}])
    # The image's tokens count in the prompt: a 56 x 56 image is 4 merged patches.
    assert reply.usage.prompt_tokens == text_only.usage.prompt_tokens + 2 + 4


def test_the_reply_is_what_mlx_vlm_computes(stack: Stack) -> None:
    """Greedy decoding through the server equals mlx-vlm's own generate_step on the same input."""
    import mlx.core as mx
    from mlx_vlm import load
    from mlx_vlm.generate.ar import generate_step
    from mlx_vlm.utils import prepare_inputs
    from PIL import Image

    data = png(84, 56, (10, 120, 240))
    reply = ask(stack, [image_message(data_url(data), "Describe it.")], max_tokens=8)
    model, processor = load(str(stack.models / "vl-tiny"))
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe it."}]}
    ]
    prompt = processor.tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    image = Image.open(io.BytesIO(data)).convert("RGB")
    inputs = prepare_inputs(processor, images=[image], prompts=[prompt])
    extra = {
        k: v for k, v in inputs.items() if k not in ("input_ids", "pixel_values", "attention_mask")
    }
    steps = generate_step(
        inputs["input_ids"], model, inputs["pixel_values"], inputs["attention_mask"],
        max_tokens=8, sampler=lambda lp: mx.argmax(lp, axis=-1), **extra,
    )  # fmt: skip
    tokens = [int(token) for (token, _), _ in zip(steps, range(8), strict=False)]
    end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    if end in tokens:
        tokens = tokens[: tokens.index(end)]
    # The server's streaming detokenizer drops the space that starts a reply, as for every model.
    assert reply.choices[0].message.content == processor.tokenizer.decode(tokens).removeprefix(" ")
    assert reply.usage.prompt_tokens == inputs["input_ids"].shape[1]


def test_streamed_with_an_image(stack: Stack) -> None:
    chunks: list[Any] = list(
        stack.client.chat.completions.create(
            model=VISION,
            messages=[image_message(data_url(png(28, 28)))],
            max_tokens=5,
            temperature=0,
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_one_token_and_low_detail(stack: Stack) -> None:
    reply = ask(stack, [image_message(data_url(png(112, 112)), detail="low")], max_tokens=1)
    assert reply.usage.completion_tokens <= 1


def test_text_only_chat_on_the_vision_model(stack: Stack) -> None:
    reply = ask(
        stack, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    )
    assert reply.choices[0].message.content


def test_concurrent_image_requests_all_answer(stack: Stack) -> None:
    sizes = [(28, 28), (56, 28), (56, 56), (84, 84)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(
            pool.map(lambda s: ask(stack, [image_message(data_url(png(*s)))], max_tokens=4), sizes)
        )
    assert all(r.choices[0].message.content for r in replies)
    assert len({r.usage.prompt_tokens for r in replies}) == len(sizes)  # each its own image


def test_text_only_model_refuses_images(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        stack.client.chat.completions.create(
            model=CHAT, messages=[image_message(data_url(png(28, 28)))], max_tokens=2
        )
    assert info.value.code == "images_not_supported"


def test_bad_image_gets_the_decoders_reason(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message(data_url(b"this is not a picture at all"))])
    assert info.value.code == "invalid_image"
    assert "cannot identify image file" in info.value.message


def test_truncated_image_is_refused(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message(data_url(png(56, 56)[:80]))])
    assert info.value.code == "invalid_image"


def test_invalid_base64_is_refused(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message("data:image/png;base64,@@not-base64@@")])
    assert info.value.code == "invalid_image"


def test_image_larger_than_the_limit_is_refused_not_resized(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message(data_url(png(300, 200)))])
    assert info.value.code == "image_too_large"
    body = info.value.body
    assert isinstance(body, dict)
    assert body["details"] == {
        "image_index": 0,
        "width": 300,
        "height": 200,
        "max_pixels": MAX_PIXELS,
    }


def test_remote_images_are_off_by_default(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message("http://127.0.0.1:9/cat.png")])
    assert info.value.code == "remote_images_disabled"


@pytest.mark.parametrize(
    "url", ["ftp://example.org/a.png", "file:///etc/passwd", "data:image/png,notbase64"]
)
def test_other_urls_are_refused(stack: Stack, url: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message(url)])
    assert info.value.code == "invalid_image_url"


def test_an_image_part_without_a_url_is_a_clear_400(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.manager.url}/v1/chat/completions",
        json={
            "model": VISION,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
        },
        timeout=60,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_pool_reports_the_vision_kind(stack: Stack) -> None:
    ask(stack, [{"role": "user", "content": "Hi"}], max_tokens=1)
    slots = httpx.get(f"{stack.inference.url}/admin/pool", timeout=30).json()["slots"]
    assert {s["id"]: s["kind"] for s in slots}[VISION] == "vision"


def test_an_image_part_without_its_type_is_still_an_image(stack: Stack) -> None:
    """The schema gives ``type`` a default, so ``{"image_url": {...}}`` alone is an image part.

    Reproduction (found by fuzzing): a user message whose content is
    ``[{"image_url": {"url": "..."}}]`` was read as a text part and refused with 400.
    """
    part = {"image_url": {"url": data_url(png(28, 28))}}
    reply = ask(stack, [{"role": "user", "content": [part, {"type": "text", "text": "Hi"}]}])
    with_type = ask(stack, [image_message(data_url(png(28, 28)), "Hi")])
    assert reply.usage.prompt_tokens == with_type.usage.prompt_tokens


SCHEMA: Any = {
    "type": "object",
    "properties": {"colour": {"type": "string", "maxLength": 12}, "count": {"type": "integer"}},
    "required": ["colour", "count"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_output_with_an_image(stack: Stack, stream: bool) -> None:
    """Structured outputs hold on a vision model: the grammar constraint runs inside its
    generator, so even random weights answer JSON that validates."""
    import jsonschema

    request: Any = {
        "model": VISION,
        "messages": [image_message(data_url(png(56, 56)), "Describe it as JSON.")],
        "max_tokens": 60,
        "temperature": 0.8,
        "seed": 3,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "picture", "schema": SCHEMA},
        },
    }
    if stream:
        chunks = list(stack.client.chat.completions.create(**request, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        reply = stack.client.chat.completions.create(**request)
        text, finish = reply.choices[0].message.content or "", reply.choices[0].finish_reason
    assert finish == "stop", text
    jsonschema.validate(json.loads(text), SCHEMA)


def test_logprobs_with_an_image(stack: Stack) -> None:
    reply = ask(stack, [image_message(data_url(png(28, 28)))], logprobs=True, top_logprobs=2)
    assert reply.choices[0].logprobs is not None
    entries = reply.choices[0].logprobs.content or []
    assert len(entries) == reply.usage.completion_tokens
    assert all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in entries)


def test_tools_on_a_vision_model_without_a_tool_format_are_refused(stack: Stack) -> None:
    tool: Any = {"type": "function", "function": {"name": "look", "parameters": SCHEMA}}
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message(data_url(png(28, 28)))], tools=[tool])
    assert info.value.code == "tools_not_supported"


def test_unknown_fields_are_refused_beside_images(stack: Stack) -> None:
    """Image parts are part of the strict schema; a field it does not know is still refused."""
    with pytest.raises(openai.BadRequestError) as info:
        ask(stack, [image_message(data_url(png(28, 28)))], extra_body={"modalities": ["text"]})
    assert info.value.code == "unsupported_parameter"
    assert info.value.param == "modalities"


def test_capabilities_name_vision(stack: Stack) -> None:
    listing = httpx.get(f"{stack.inference.url}/v1/models", timeout=30).json()["data"]
    capabilities = {card["id"]: card["capabilities"] for card in listing}
    assert "vision" in capabilities[VISION] and "chat" in capabilities[VISION]
    assert "vision" not in capabilities[CHAT]
    features = httpx.get(f"{stack.inference.url}/admin/capabilities", timeout=30).json()
    assert {"vision", "embeddings"} <= set(features["features"])


def test_the_manager_says_images_are_served(stack: Stack) -> None:
    """The manager's verdict on a vision-language model the server's mlx-vlm loads: it runs,
    with its images (no "served for text only" warning)."""
    deadline = time.monotonic() + 60
    while (
        not httpx.get(f"{stack.manager.url}/api/system", timeout=30)
        .json()["inference"]
        .get("capabilities")
    ):
        assert time.monotonic() < deadline, "the manager never learnt the server's model types"
        time.sleep(0.2)
    verdict = httpx.get(f"{stack.manager.url}/api/models/compatibility/{VISION}", timeout=30)
    report = verdict.json()
    codes = {reason["code"] for reason in report["reasons"]}
    assert report["label"] == "runs", report
    assert "images_served" in codes and "text_only" not in codes, report
