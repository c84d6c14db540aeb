"""From an OpenAI request to a running generation job, and back to its events.

``Generation`` holds a ready model (so it cannot be evicted), the submitted job, and the
event stream; routes format that stream as SSE or collect it into one response.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from inference_server.errors import BadRequestError, ContextLengthExceededError, ModelNotFoundError
from inference_server.generation.events import Delta, Done, Event, Failed, Job, Progress
from inference_server.generation.sampling import SamplingParams
from inference_server.generation.worker import MLXWorker
from inference_server.metrics import InferenceMetrics
from inference_server.pool.kinds import ModelKind
from inference_server.pool.pool import ModelPool
from inference_server.pool.slot import Slot
from inference_server.settings import InferenceSettings
from inference_server.vision.images import image_limits, load_images
from inference_server.vision.runtime import chat_messages, prepare_prompt
from shared_schemas.openai import ChatCompletionRequest, CompletionRequest

_T = TypeVar("_T")


@dataclass
class Generation:
    id: str
    created: int
    model: str
    job: Job
    worker: MLXWorker
    stack: AsyncExitStack
    metrics: InferenceMetrics
    started: float = field(default_factory=time.perf_counter)
    _waiting_first: bool = True

    def _first_event(self, batch: list[Event]) -> None:
        self._waiting_first = False
        self.metrics.queue_depth.dec()
        if any(isinstance(e, Delta) for e in batch):
            self.metrics.ttft.labels(self.model).observe(time.perf_counter() - self.started)

    @property
    def prompt_tokens(self) -> int:
        return len(self.job.prompt)

    def cancel(self) -> None:
        if not self.job.finished:
            self.worker.cancel(self.job)

    async def events(self, keepalive_s: float | None = None) -> AsyncIterator[list[Event] | None]:
        """Batches of events until Done/Failed; ``None`` marks a keep-alive tick."""
        queue = self.job.queue
        while True:
            if keepalive_s is None:
                batch = await queue.get()
            else:
                try:
                    async with asyncio.timeout(keepalive_s):
                        batch = await queue.get()
                except TimeoutError:
                    yield None
                    continue
            while not queue.empty():
                batch.extend(queue.get_nowait())
            if self._waiting_first and not all(isinstance(e, Progress) for e in batch):
                self._first_event(batch)
            yield batch
            if isinstance(batch[-1], Done | Failed):
                return

    async def close(self) -> None:
        self.cancel()
        if self._waiting_first:
            self._waiting_first = False
            self.metrics.queue_depth.dec()
        await self.stack.aclose()


class GenerationService:
    def __init__(
        self,
        pool: ModelPool,
        worker: MLXWorker,
        settings: InferenceSettings,
        metrics: InferenceMetrics,
    ) -> None:
        self._metrics = metrics
        self._pool = pool
        self._worker = worker
        self._settings = settings

    def model_id(self, requested: str | None) -> str:
        model_id = requested or self._settings.default_model
        if not model_id:
            raise BadRequestError("no model given and no default model configured", param="model")
        allowed = self._settings.available_models
        if allowed and model_id not in allowed:
            raise ModelNotFoundError(f"The model '{model_id}' is not served here", param="model")
        return model_id

    async def start_chat(self, request: ChatCompletionRequest) -> Generation:
        params = SamplingParams.from_request(request, logprobs=request.logprobs)
        vision = await self._vision_inputs(request)
        return await self._start(
            request, _chat_tokenizer(request), params, request.token_limit(), "chatcmpl", vision
        )

    async def count_chat_tokens(self, request: ChatCompletionRequest) -> int:
        """The prompt tokens a chat request would take (the model is loaded to count them)."""
        vision = await self._vision_inputs(request)
        model_id = self.model_id(request.model)
        self._refuse_embedding(model_id, await self._pool.kind_of(model_id))
        async with self._pool.use(model_id, keep_alive=request.keep_alive) as slot:
            prompt, _ = await self._prompt(slot, _chat_tokenizer(request), vision)
        return len(prompt)

    async def _vision_inputs(
        self, request: ChatCompletionRequest
    ) -> tuple[list[dict[str, Any]], list[Any]] | None:
        """For a vision-language model: the conversation and its decoded images; else None
        (and a request with images is refused)."""
        model_id = self.model_id(request.model)
        refs = request.images()
        if await self._pool.kind_of(model_id) != ModelKind.VISION:
            if refs:
                raise BadRequestError(
                    f"'{model_id}' is a text-only model; it cannot read images",
                    code="images_not_supported",
                    param="messages",
                    resolution_steps=["Use a vision-language model that mlx-vlm can load."],
                )
            return None
        images = await load_images(refs, image_limits(self._settings))
        return chat_messages(request), images

    async def start_completion(self, request: CompletionRequest) -> Generation:
        text = request.prompt_text()

        def tokenize(tokenizer: Any) -> list[int]:
            return list(tokenizer.encode(text))

        params = SamplingParams.from_request(request)
        return await self._start(request, tokenize, params, request.token_limit(), "cmpl")

    async def _start(
        self,
        request: ChatCompletionRequest | CompletionRequest,
        tokenize: Any,
        params: SamplingParams,
        max_tokens: int | None,
        prefix: str,
        vision: tuple[list[dict[str, Any]], list[Any]] | None = None,
    ) -> Generation:
        model_id = self.model_id(request.model)
        cap = self._settings.max_tokens_cap
        if max_tokens is not None and max_tokens > cap:
            raise BadRequestError(
                f"max_tokens {max_tokens} is above this server's cap of {cap}",
                param="max_tokens",
                code="max_tokens_exceeded",
            )
        self._refuse_embedding(model_id, await self._pool.kind_of(model_id))
        stack = AsyncExitStack()
        try:
            slot = await stack.enter_async_context(
                self._pool.use(model_id, keep_alive=request.keep_alive)
            )
            prompt, media = await self._prompt(slot, tokenize, vision)
            if not prompt:
                raise BadRequestError("the prompt is empty", param="prompt")
            limit = self._token_budget(slot, len(prompt), max_tokens)
            job = Job(
                model_id=model_id,
                prompt=prompt,
                max_tokens=limit,
                params=params,
                stop=request.stop_list(),
                loop=asyncio.get_running_loop(),
                media=media,
            )
            generation = Generation(
                id=f"{prefix}-{uuid.uuid4().hex[:24]}",
                created=int(time.time()),
                model=model_id,
                job=job,
                worker=self._worker,
                stack=stack,
                metrics=self._metrics,
            )
            self._metrics.queue_depth.inc()
            self._worker.submit(job)
        except BaseException:
            await stack.aclose()
            raise
        return generation

    async def _prompt(
        self, slot: Slot, tokenize: Any, vision: tuple[list[dict[str, Any]], list[Any]] | None
    ) -> tuple[list[int], Any]:
        """The prompt's token ids, and the image inputs of a vision-language model."""
        if vision is not None and slot.runtime.multimodal:
            prepare = functools.partial(prepare_prompt, slot.runtime, *vision)
            prompt, media = await self._worker.call(prepare)
            return prompt, media
        return tokenize(slot.runtime.tokenizer), None

    @staticmethod
    def _refuse_embedding(model_id: str, kind: ModelKind) -> None:
        if kind == ModelKind.EMBEDDING:
            raise BadRequestError(
                f"'{model_id}' is an embedding model; it does not generate text",
                code="not_a_chat_model",
                param="model",
                resolution_steps=["Use it with POST /v1/embeddings."],
            )

    def _token_budget(self, slot: Slot, prompt_tokens: int, requested: int | None) -> int:
        context = slot.context_length
        # The cap bounds every generation, including those that ask for no number.
        wanted = requested or min(self._settings.default_max_tokens, self._settings.max_tokens_cap)
        if context is None:
            return wanted
        if prompt_tokens >= context:
            raise ContextLengthExceededError(
                f"This model's maximum context length is {context} tokens; the prompt has "
                f"{prompt_tokens} tokens",
                param="messages",
                details={"context_length": context, "prompt_tokens": prompt_tokens},
            )
        room = context - prompt_tokens
        if requested is not None and requested > room:
            raise ContextLengthExceededError(
                f"This model's maximum context length is {context} tokens; {prompt_tokens} "
                f"in the prompt plus {requested} requested completion tokens exceed it",
                param="max_tokens",
                details={"context_length": context, "prompt_tokens": prompt_tokens},
            )
        return min(wanted, room)


def _role(role: str) -> str:
    return "system" if role == "developer" else role


def _chat_tokenizer(request: ChatCompletionRequest) -> Any:
    """A function of the model's tokenizer giving the prompt's token ids (chat template)."""
    messages = [{"role": _role(m.role), "content": m.text()} for m in request.messages]

    def tokenize(tokenizer: Any) -> list[int]:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(ids)

    return tokenize


async def unless_disconnected(
    receive: Any, generation: Generation, work: Coroutine[Any, Any, _T]
) -> _T | None:
    """Await ``work`` (a non-streaming response); ``None`` if the client went away first.

    A client that disconnects cancels the generation at the worker's next step and the wait
    for its events, so the request releases its model at once.
    """

    async def disconnected() -> None:
        while (await receive()).get("type") != "http.disconnect":
            pass

    work_task = asyncio.ensure_future(work)
    watch_task = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({work_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watch_task, work_task):
            if not task.done():
                if task is work_task:
                    generation.cancel()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if work_task.cancelled():
        return None
    return work_task.result()
