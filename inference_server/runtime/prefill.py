"""Starting a job from its prompt, on the MLX worker thread: the prompt cache (the longest
cached prefix a prompt starts from, what a finished job leaves in it), the job's sampler and
logits processors, and the two ways in: the model's batch, or one forward pass outside it
for a one-token job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inference_server.runtime.events import Job
from inference_server.runtime.models import Runtime
from inference_server.runtime.sampling import make_processors, make_sampler


@dataclass
class Start:
    """What a job's prompt processing starts from."""

    sampler: Any
    processors: list[Any]
    cache: Any  # the cached KV state of the prompt's first tokens; None: nothing cached
    rest: list[int]  # the prompt's tokens still to process


@dataclass(frozen=True)
class OneToken:
    """The fields of a batch response that ``decoding.on_token`` reads, for ``one_token``."""

    token: int
    logprobs: Any
    finish_reason: str
    all_tokens: list[int]
    prompt_cache: Any


def new_prompt_cache(max_bytes: int) -> Any:
    """A model's prompt cache, holding up to ``max_bytes``; None (no cache) when it is 0."""
    if max_bytes <= 0:
        return None
    from mlx_lm.models.cache import LRUPromptCache

    return LRUPromptCache(max_size=64, max_bytes=max_bytes)


def start(runtime: Runtime, job: Job) -> Start:
    """The job's sampler and processors, and where its prompt starts from (which sets
    ``job.cached_tokens``)."""
    sampler = make_sampler(job.params)
    processors = _processors(job)
    cache, rest = _cached_prefix(runtime, job.prompt)
    job.cached_tokens = len(job.prompt) - len(rest)
    return Start(sampler, processors, cache, rest)


def insert(runtime: Runtime, job: Job, begin: Start) -> int:
    """Add the job to the model's batch; returns its uid there."""
    media = {"media": [job.media]} if runtime.multimodal else {}
    uid: int
    (uid,) = runtime.generator.insert(
        [begin.rest],
        max_tokens=[job.max_tokens],
        caches=[begin.cache] if begin.cache is not None else None,
        all_tokens=[job.prompt[: job.cached_tokens]],
        samplers=[begin.sampler] if begin.sampler is not None else None,
        logits_processors=[begin.processors] if begin.processors else None,
        **media,
    )
    return uid


def one_token(
    runtime: Runtime, job: Job, begin: Start, *, step: int, progress: Callable[[], None]
) -> OneToken:
    """A generation of one token, in one forward pass, outside the batch.

    The batch hands a token back one step after computing it (each step starts the next
    token before returning the current one), so through it a one-token request would cost
    two forward passes, the second thrown away. The prompt goes through in chunks of
    ``step`` tokens; ``progress`` is called after each but the last.
    """
    import mlx.core as mx
    from mlx_lm.generate import generation_stream
    from mlx_lm.models.cache import make_prompt_cache

    cache = begin.cache if begin.cache is not None else make_prompt_cache(runtime.model)
    rest = begin.rest
    with mx.stream(generation_stream):
        while len(rest) > step:
            runtime.model(mx.array(rest[:step])[None], cache=cache)
            mx.eval([c.state for c in cache])
            rest = rest[step:]
            progress()
        logits = runtime.model(mx.array(rest)[None], cache=cache)[:, -1, :]
        context = mx.array(job.prompt)
        for processor in begin.processors:
            logits = processor(context, logits)
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        sampler = begin.sampler
        sampled = sampler(logprobs) if sampler is not None else mx.argmax(logprobs, -1)
        mx.eval(sampled, logprobs)
    values: Any = sampled.tolist()
    token = int(values[0])
    reason = "stop" if token in runtime.tokenizer.eos_token_ids else "length"
    # The cache now holds exactly the prompt: the next request with this prompt (or one
    # that extends it) starts from it.
    return OneToken(token, logprobs[0], reason, job.prompt, cache)


def remember(runtime: Runtime, tokens: Any, cache: Any) -> None:
    """Keep a finished job's KV cache for the prompts that start with ``tokens``."""
    if runtime.prompt_cache is not None and cache is not None and tokens:
        runtime.prompt_cache.insert_cache(runtime.model_id, list(tokens), cache)


def _cached_prefix(runtime: Runtime, prompt: list[int]) -> tuple[Any, list[int]]:
    """The longest cached KV prefix of ``prompt`` and the tokens still to process."""
    if runtime.prompt_cache is None:
        return None, prompt
    from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

    cache, rest = runtime.prompt_cache.fetch_nearest_cache(runtime.model_id, prompt)
    if cache is None:
        return None, prompt
    if not rest:  # exact hit: re-process the last token to get its logits
        if not can_trim_prompt_cache(cache):
            return None, prompt
        trim_prompt_cache(cache, 1)
        rest = prompt[-1:]
    return cache, list(rest)


def _processors(job: Job) -> list[Any]:
    """The job's logits processors; its grammar constraint last, so nothing undoes a mask."""
    processors: list[Any] = make_processors(job.params)
    if job.constraint is not None:
        processors.append(job.constraint)
    return processors
