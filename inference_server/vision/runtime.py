"""Loading a vision-language model with mlx-vlm, and turning a chat into its prompt.

Both run on the MLX worker thread: the processor builds MLX arrays (pixel values, grid
sizes) as it prepares the prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference_server.generation.prepare import template_errors
from inference_server.runtime.models import Runtime, compute_dtype
from inference_server.runtime.worker import MLXWorker
from inference_server.vision.generator import VisionGenerator
from shared_schemas.content import ImageURLContentPart
from shared_schemas.openai import ChatCompletionRequest


def load_vision_runtime(
    worker: MLXWorker, model_id: str, path: Path, *, float32: bool = False
) -> tuple[Runtime, int]:
    """Load a model with mlx-vlm and hand it to the worker as a generation runtime."""
    import mlx.core as mx
    from mlx_lm.utils import load_tokenizer
    from mlx_vlm import load

    before = mx.get_active_memory()
    model, processor = load(str(path), lazy=True)
    if float32:
        model.set_dtype(mx.float32, predicate=lambda dtype: dtype in (mx.float16, mx.bfloat16))
    mx.eval(model.parameters())
    mx.synchronize()
    used = max(0, mx.get_active_memory() - before)
    eos = getattr(model.config, "eos_token_id", None)
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    tokenizer = load_tokenizer(path, eos_token_ids=eos_ids or None)
    step = worker.prefill_step_size

    def make_generator() -> VisionGenerator:
        return VisionGenerator(model, set(tokenizer.eos_token_ids), step)

    runtime = Runtime(
        model_id=model_id,
        model=model,
        tokenizer=tokenizer,
        generator=make_generator(),
        compute_dtype=compute_dtype(model),
        processor=processor,
        make_generator=make_generator,
    )
    worker.add_runtime(runtime)
    return runtime, used


def chat_messages(
    request: ChatCompletionRequest, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``messages`` (the request's, as chat templates read them) with each message whose
    content is a list of parts given those parts, an ``{"type": "image"}`` part for each
    image, as chat templates of vision-language models expect."""
    out = []
    for message, entry in zip(request.messages, messages, strict=True):
        if isinstance(message.content, list):
            parts: list[dict[str, Any]] = [
                {"type": "image"}
                if isinstance(part, ImageURLContentPart)
                else {"type": "text", "text": part.text}
                for part in message.content
            ]
            entry = {**entry, "content": parts}
        out.append(entry)
    return out


def render_prompt(
    runtime: Runtime, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> str:
    """The prompt text by the processor's chat template (the tokenizer's when the processor
    has none). Pure template work: any thread."""
    processor = runtime.processor
    template_owner = processor if getattr(processor, "chat_template", None) else runtime.tokenizer
    extra = {"tools": tools} if tools else {}
    with template_errors():
        text: str = template_owner.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **extra
        )
    return text


def prepare_images(
    runtime: Runtime, text: str, images: list[Any]
) -> tuple[list[int], dict[str, Any]]:
    """Token ids (image placeholders expanded) and the model inputs for the images. Makes
    MLX arrays: runs on the MLX worker."""
    from mlx_vlm.utils import prepare_inputs

    inputs = prepare_inputs(runtime.processor, images=images, prompts=[text])
    ids: list[int] = inputs["input_ids"][0].tolist()
    media = {key: value for key, value in inputs.items() if key != "input_ids"}
    return ids, media
