"""From an OpenAI request to a running generation job, and back to its events.

``Generation`` holds a ready model (so it cannot be evicted), the submitted job, and the
event stream; routes format that stream as SSE or collect it into one response.

Starting a job: the request's schemas are checked (before any model loads), the model is
made ready, tools are checked against its chat template (400 ``tools_not_supported`` when
it has no tool-call format; tool results and earlier calls in the messages count too), the
prompt is rendered and tokenized in a thread (after a cheap length bound), and the grammar
constraint, if any, is compiled in a thread. ``tool_choice`` ``required`` or a named function
needs a family whose call syntax the server can constrain; others are refused by name.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

from inference_server.distributed import RanksLostError
from inference_server.errors import (
    BadRequestError,
    ContextLengthExceededError,
    ModelNotFoundError,
    ToolsNotSupportedError,
    UnsupportedParameterError,
)
from inference_server.generation import prepare
from inference_server.generation.constraints import (
    CONSTRAINED_FAMILIES,
    OutputPlan,
    check_request,
    plan_output,
)
from inference_server.generation.tools import (
    ToolCallScanner,
    ToolFormat,
    template_messages,
    tool_format,
)
from inference_server.metrics import InferenceMetrics
from inference_server.pool.kinds import ModelKind
from inference_server.pool.pool import ModelPool
from inference_server.pool.slot import Slot
from inference_server.runtime.events import Delta, Done, Event, Failed, Job, Progress
from inference_server.runtime.models import Runtime
from inference_server.runtime.sampling import SamplingParams
from inference_server.runtime.worker import MLXWorker
from inference_server.settings import InferenceSettings
from inference_server.vision.images import image_limits, load_images
from inference_server.vision.runtime import chat_messages, prepare_images, render_prompt
from shared_schemas.openai import ChatCompletionRequest, CompletionRequest

_T = TypeVar("_T")


@dataclass(frozen=True)
class ToolUse:
    """How to read the calls out of a generation's text."""

    fmt: ToolFormat
    tools: list[dict[str, Any]] | None
    parallel: bool

    def scanner(self) -> ToolCallScanner:
        return ToolCallScanner(self.fmt, self.tools, parallel=self.parallel)


@dataclass(frozen=True)
class ChatPrompt:
    """A chat request's conversation as chat templates read it, with its tools."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    chars: int  # the text's length, for the bound checked before tokenizing
    uses_tools: bool  # tools offered, or calls and results in the messages

    @classmethod
    def of(cls, request: ChatCompletionRequest, plan: OutputPlan) -> ChatPrompt:
        tools = plan.tools.tools if plan.tools is not None else None
        chars = sum(len(m.text()) for m in request.messages)
        chars += sum(
            len(c.function.arguments) for m in request.messages for c in m.tool_calls or ()
        )
        chars += len(json.dumps(tools)) if tools else 0
        return cls(
            messages=template_messages(request.messages),
            tools=tools,
            chars=chars,
            uses_tools=tools is not None
            or any(m.tool_calls or m.role == "tool" for m in request.messages),
        )

    def encode(self, tokenizer: Any) -> list[int]:
        ids = tokenizer.apply_chat_template(
            self.messages, tools=self.tools, add_generation_prompt=True
        )
        return list(ids)


@dataclass(frozen=True)
class VisionInputs:
    """What a vision-language model's processor needs: the conversation with an image part
    where each image goes, the tools, and the decoded images."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    images: list[Any]


@dataclass
class Generation:
    id: str
    created: int
    model: str
    job: Job
    worker: MLXWorker
    stack: AsyncExitStack
    metrics: InferenceMetrics
    tools: ToolUse | None = None
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
        check_request(request)
        plan = plan_output(request)
        chat = ChatPrompt.of(request, plan)
        vision = await self._vision_inputs(request, chat)
        params = SamplingParams.from_request(request, logprobs=request.logprobs)
        return await self._start(
            request,
            chat.encode,
            params,
            request.token_limit(),
            "chatcmpl",
            plan=plan,
            prompt_chars=chat.chars,
            uses_tools=chat.uses_tools,
            vision=vision,
        )

    async def count_chat_tokens(self, request: ChatCompletionRequest) -> int:
        """The prompt tokens a chat request would take, images and tools included (the model
        is loaded to count them, as for a generation)."""
        check_request(request)
        plan = plan_output(request)
        chat = ChatPrompt.of(request, plan)
        vision = await self._vision_inputs(request, chat)
        model_id = self.model_id(request.model)
        self._refuse_embedding(model_id, await self._pool.kind_of(model_id))
        async with self._pool.use(model_id, keep_alive=request.keep_alive) as slot:
            _tool_use(slot.runtime, model_id, plan, chat.uses_tools)
            prompt, _ = await self._prompt(
                slot, chat.encode, vision, prompt_chars=chat.chars, param="messages"
            )
        return len(prompt)

    async def _vision_inputs(
        self, request: ChatCompletionRequest, chat: ChatPrompt
    ) -> VisionInputs | None:
        """For a vision-language model: the conversation with its image parts and the decoded
        images; else None (and a request with images is refused)."""
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
        return VisionInputs(chat_messages(request, chat.messages), chat.tools, images)

    async def start_completion(self, request: CompletionRequest) -> Generation:
        check_request(request)
        text = request.prompt_text()

        def encode(tokenizer: Any) -> list[int]:
            return list(tokenizer.encode(text))

        params = SamplingParams.from_request(request)
        return await self._start(
            request,
            encode,
            params,
            request.token_limit(),
            "cmpl",
            plan=plan_output(request),
            prompt_chars=len(text),
            uses_tools=False,
        )

    async def _start(
        self,
        request: ChatCompletionRequest | CompletionRequest,
        encode: Callable[[Any], list[int]],
        params: SamplingParams,
        max_tokens: int | None,
        prefix: str,
        *,
        plan: OutputPlan,
        prompt_chars: int,
        uses_tools: bool,
        vision: VisionInputs | None = None,
    ) -> Generation:
        model_id = self.model_id(request.model)
        cap = self._settings.max_tokens_cap
        if max_tokens is not None and max_tokens > cap:
            raise BadRequestError(
                f"max_tokens {max_tokens} is above this server's cap of {cap}",
                param="max_tokens",
                code="max_tokens_exceeded",
            )
        await asyncio.to_thread(prepare.check_plan, plan)
        self._refuse_embedding(model_id, await self._pool.kind_of(model_id))
        if self._worker.broken is not None:  # a sharded server that lost a rank
            raise RanksLostError(self._worker.broken)
        stack = AsyncExitStack()
        try:
            slot = await stack.enter_async_context(
                self._pool.use(model_id, keep_alive=request.keep_alive)
            )
            runtime: Runtime = slot.runtime
            tool_use = _tool_use(runtime, model_id, plan, uses_tools)
            _check_logit_bias(params, runtime)
            prompt, media = await self._prompt(
                slot,
                encode,
                vision,
                prompt_chars=prompt_chars,
                param="messages" if isinstance(request, ChatCompletionRequest) else "prompt",
            )
            if not prompt:
                raise BadRequestError("the prompt is empty", param="prompt")
            limit = self._token_budget(slot, len(prompt), max_tokens)
            constraint = None
            if plan.schema is not None or plan.tools is not None:
                fmt = tool_use.fmt if tool_use is not None else None
                constraint = await asyncio.to_thread(prepare.constraint, runtime, plan, fmt)
            if constraint is not None and self._settings.distributed != "off":
                # The grammar's state lives here; the other ranks could not follow it.
                param = plan.schema_param if plan.schema is not None else "tools"
                raise UnsupportedParameterError(
                    f"'{param}' is not served by a model sharded over several processes "
                    "(MLX_SERVER_DISTRIBUTED)",
                    param=param,
                )
            job = Job(
                model_id=model_id,
                prompt=prompt,
                max_tokens=limit,
                params=params,
                stop=request.stop_list(),
                loop=asyncio.get_running_loop(),
                constraint=constraint,
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
                tools=tool_use if plan.tools is not None else None,
            )
            self._metrics.queue_depth.inc()
            self._worker.submit(job)
        except BaseException:
            await stack.aclose()
            raise
        return generation

    async def _prompt(
        self,
        slot: Slot,
        encode: Callable[[Any], list[int]],
        vision: VisionInputs | None,
        *,
        prompt_chars: int,
        param: str,
    ) -> tuple[list[int], Any]:
        """The prompt's token ids, and the image inputs of a vision-language model.

        A vision-language model's prompt is rendered by its processor's template; its images
        are prepared on the MLX worker (the processor makes MLX arrays of them), after the
        same length bound as any other prompt.
        """
        runtime: Runtime = slot.runtime
        if vision is None or not runtime.multimodal:
            prompt = await asyncio.to_thread(
                prepare.tokenize,
                runtime,
                encode,
                prompt_chars=prompt_chars,
                context_length=slot.context_length,
                param=param,
            )
            return prompt, None
        text = await asyncio.to_thread(render_prompt, runtime, vision.messages, vision.tools)
        if not vision.images:

            def encode_text(tokenizer: Any) -> list[int]:
                return list(tokenizer.encode(text, add_special_tokens=False))

            prompt = await asyncio.to_thread(
                prepare.tokenize,
                runtime,
                encode_text,
                prompt_chars=prompt_chars,
                context_length=slot.context_length,
                param=param,
            )
            return prompt, None
        await asyncio.to_thread(
            prepare.check_length,
            runtime,
            prompt_chars=prompt_chars,
            context_length=slot.context_length,
            param=param,
        )
        prompt, media = await self._worker.call(
            functools.partial(prepare_images, runtime, text, vision.images)
        )
        return prompt, media

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


def _tool_use(
    runtime: Runtime, model_id: str, plan: OutputPlan, uses_tools: bool
) -> ToolUse | None:
    """How this model writes calls; refuses tools it has no format for (see the module doc)."""
    if not uses_tools:
        return None
    fmt = tool_format(runtime.tokenizer)
    if fmt is None:
        raise ToolsNotSupportedError(
            f"The model '{model_id}' has no tool-call format in its chat template, so it "
            "cannot be given tools, tool calls or tool results",
            param="tools",
            resolution_steps=["Use a model whose chat template supports tools."],
        )
    tools = plan.tools
    if tools is not None and tools.mode != "auto" and fmt.family not in CONSTRAINED_FAMILIES:
        raise UnsupportedParameterError(
            f"tool_choice '{tools.named or tools.mode}' needs constrained decoding of the "
            f"'{fmt.family}' tool-call format, which this server does not have (it has "
            f"{', '.join(sorted(CONSTRAINED_FAMILIES))}); use tool_choice 'auto'",
            param="tool_choice",
        )
    if tools is not None and plan.schema is not None and fmt.family not in CONSTRAINED_FAMILIES:
        raise UnsupportedParameterError(
            f"{plan.schema_param} together with tools needs constrained decoding of the "
            f"'{fmt.family}' tool-call format, which this server does not have",
            param=plan.schema_param,
        )
    return ToolUse(fmt, tools.tools if tools else None, tools.parallel if tools else True)


def _check_logit_bias(params: SamplingParams, runtime: Runtime) -> None:
    vocab = runtime.vocab_size
    for token, _bias in params.logit_bias:
        if token >= vocab:
            raise BadRequestError(
                f"logit_bias names token {token}; this model's tokens are 0 to {vocab - 1}",
                param="logit_bias",
            )
