"""Sampling parameters from an OpenAI request, and the per-request samplers they make.

``SamplingParams`` is pure data (testable without MLX); ``make_sampler`` and
``make_processors`` turn it into mlx-lm callables on the MLX worker. Greedy requests
share one sampler (``None``) so a batch of them is sampled in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0
PENALTY_CONTEXT = 64


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    top_logprobs: int | None = None  # None: no logprobs; 0..20: how many alternatives
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias added to its logit)
    top_k: int = 0  # 0: no limit; else sample among the k likeliest tokens

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_request(cls, request: Any, *, logprobs: bool = False) -> SamplingParams:
        temperature = request.temperature
        top_p = request.top_p
        top_logprobs = None
        if logprobs:
            top_logprobs = getattr(request, "top_logprobs", None) or 0
        bias = getattr(request, "logit_bias", None) or {}
        return cls(
            temperature=DEFAULT_TEMPERATURE if temperature is None else float(temperature),
            top_p=DEFAULT_TOP_P if top_p is None else float(top_p),
            # OpenAI seeds are signed 64-bit; MLX keys take unsigned ones.
            seed=None if request.seed is None else request.seed % 2**64,
            presence_penalty=float(request.presence_penalty or 0.0),
            frequency_penalty=float(request.frequency_penalty or 0.0),
            top_logprobs=top_logprobs,
            logit_bias=tuple(sorted((int(k), float(v)) for k, v in bias.items())),
            top_k=int(getattr(request, "top_k", None) or 0),
        )


Sampler = Callable[[Any], Any]
LogitsProcessor = Callable[[Any, Any], Any]


def make_sampler(params: SamplingParams) -> Sampler | None:
    """A sampler for this request, or None for greedy (the batch's shared argmax)."""
    if params.greedy:
        return None
    import mlx.core as mx
    from mlx_lm.sample_utils import apply_top_k, apply_top_p

    inv_temp = 1.0 / params.temperature
    top_p = params.top_p
    top_k = params.top_k
    state = {"key": mx.random.key(params.seed) if params.seed is not None else None}

    def sampler(logprobs: Any) -> Any:
        if 0 < top_k < logprobs.shape[-1]:
            logprobs = apply_top_k(logprobs, top_k)
        if 0.0 < top_p < 1.0:
            logprobs = apply_top_p(logprobs, top_p)
        key = state["key"]
        if key is None:
            return mx.random.categorical(logprobs * inv_temp)
        key, sub = mx.random.split(key)
        state["key"] = key
        return mx.random.categorical(logprobs * inv_temp, key=sub)

    return sampler


def make_processors(params: SamplingParams) -> list[LogitsProcessor]:
    if not params.presence_penalty and not params.frequency_penalty and not params.logit_bias:
        return []
    from mlx_lm.sample_utils import make_logits_processors

    processors: list[LogitsProcessor] = make_logits_processors(
        logit_bias=dict(params.logit_bias) or None,
        presence_penalty=params.presence_penalty or None,
        presence_context_size=PENALTY_CONTEXT,
        frequency_penalty=params.frequency_penalty or None,
        frequency_context_size=PENALTY_CONTEXT,
    )
    return processors
