"""Loading a vision-language model with mlx-vlm, and turning a chat into its prompt.

Both run on the MLX worker thread: the processor builds MLX arrays (pixel values, grid
sizes) as it prepares the prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference_server.generation.worker import MLXWorker, Runtime, _compute_dtype
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
        compute_dtype=_compute_dtype(model),
        processor=processor,
        make_generator=make_generator,
    )
    worker.add_runtime(runtime)
    return runtime, used


def chat_messages(request: ChatCompletionRequest) -> list[dict[str, Any]]:
    """The conversation with each image as an ``{"type": "image"}`` part, as chat templates
    of vision-language models expect."""
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role = "system" if message.role == "developer" else message.role
        if not isinstance(message.content, list):
            messages.append({"role": role, "content": message.text()})
            continue
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImageURLContentPart):
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": part.text})
        messages.append({"role": role, "content": parts})
    return messages


def prepare_prompt(
    runtime: Runtime, messages: list[dict[str, Any]], images: list[Any]
) -> tuple[list[int], dict[str, Any] | None]:
    """Token ids (image placeholders expanded) and the model inputs for the images."""
    from mlx_vlm.utils import prepare_inputs

    processor = runtime.processor
    template_owner = processor if getattr(processor, "chat_template", None) else runtime.tokenizer
    text = template_owner.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not images:
        return list(runtime.tokenizer.encode(text, add_special_tokens=False)), None
    inputs = prepare_inputs(processor, images=images, prompts=[text])
    ids: list[int] = inputs["input_ids"][0].tolist()
    media = {key: value for key, value in inputs.items() if key != "input_ids"}
    return ids, media
