"""Turning each token a model hands back into its job's events, on the MLX worker thread:
the text (detokenized, cut at a stop sequence), the log-probabilities asked for, and the
finish reason.
"""

from __future__ import annotations

from typing import Any

from inference_server.runtime.delivery import Outbox
from inference_server.runtime.events import Delta, Done, Job
from inference_server.runtime.models import JobState, Runtime, WorkerStats
from inference_server.runtime.prefill import remember


def on_token(
    runtime: Runtime, state: JobState, response: Any, outbox: Outbox, stats: WorkerStats
) -> bool:
    """Handle one token (a batch response, or a ``prefill.OneToken``); return True when the
    job is finished."""
    job = state.job
    reason = response.finish_reason
    if reason is not None:
        remember(runtime, response.all_tokens, response.prompt_cache)
    if reason == "stop":  # an EOS token: not part of the text
        tail = _finalize(state)
        if tail:
            outbox.emit(job, Delta(tail, 0))
        outbox.finish(job, _done(job, "stop"))
        return True
    job.generated += 1
    runtime.tokens_generated += 1
    stats.tokens += 1
    state.detokenizer.add_token(response.token)
    piece = state.detokenizer.last_segment
    logprobs = None
    if state.top_logprobs is not None:
        logprobs = [_token_logprobs(runtime.tokenizer, response, state.top_logprobs)]
    if reason == "length":
        state.detokenizer.finalize()
        piece += state.detokenizer.last_segment
    text, stopped = state.scanner.feed(piece)
    if stopped:
        if text or logprobs:
            outbox.emit(job, Delta(text, 1, logprobs))
        if reason is None:
            caches = runtime.generator.remove(
                [response.uid], return_prompt_caches=runtime.prompt_cache is not None
            )
            for cache, tokens in caches.values():
                remember(runtime, tokens, cache)
        outbox.finish(job, _done(job, "stop"))
        return True
    if reason == "length":
        text += state.scanner.flush()
        outbox.emit(job, Delta(text, 1, logprobs))
        outbox.finish(job, _done(job, "length"))
        return True
    if text or logprobs:
        outbox.emit(job, Delta(text, 1, logprobs))
    return False


def _done(job: Job, reason: str) -> Done:
    return Done(reason, len(job.prompt), job.generated, job.cached_tokens)


def _finalize(state: JobState) -> str:
    state.detokenizer.finalize()
    text, _ = state.scanner.feed(state.detokenizer.last_segment)
    return text + state.scanner.flush()


def _token_logprobs(tokenizer: Any, response: Any, top: int) -> dict[str, Any]:
    import mlx.core as mx

    vector: Any = response.logprobs
    token = int(response.token)
    entry: dict[str, Any] = {
        "token": tokenizer.decode([token]),
        "logprob": float(vector[token].item()),
        "top_logprobs": [],
    }
    if top > 0:
        ids = mx.argpartition(-vector, kth=top - 1)[:top]
        values = vector[ids]
        order = mx.argsort(-values)
        ids_list: Any = ids[order].tolist()
        values_list: Any = values[order].tolist()
        entry["top_logprobs"] = [
            {"token": tokenizer.decode([int(i)]), "logprob": float(v)}
            for i, v in zip(ids_list, values_list, strict=True)
        ]
    return entry
