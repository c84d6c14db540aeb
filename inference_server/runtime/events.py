"""Events a generation job sends from the MLX worker to its request handler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from inference_server.runtime.sampling import SamplingParams


@dataclass(slots=True)
class Delta:
    text: str
    tokens: int
    logprobs: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class Progress:
    """Prompt processing is going on (used for keep-alive comments)."""

    done: int
    total: int


@dataclass(slots=True)
class Done:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(slots=True)
class Failed:
    error: BaseException


Event = Delta | Progress | Done | Failed


@dataclass(eq=False)
class Job:
    """One generation request as the worker sees it.

    The handler owns ``queue`` (read on the event loop); the worker only appends to it
    through ``loop.call_soon_threadsafe``. ``cancelled`` is set by the handler and read by
    the worker between steps. ``constraint`` is a logits processor that keeps the output
    inside a grammar (``grammar.GrammarProcessor``); the worker applies it last.
    """

    model_id: str
    prompt: list[int]
    max_tokens: int
    params: SamplingParams
    stop: list[str]
    loop: asyncio.AbstractEventLoop | None  # None: a follower rank's copy (no reader)
    constraint: Any = None
    queue: asyncio.Queue[list[Event]] = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    uid: int | None = None
    generated: int = 0
    cached_tokens: int = 0
    finished: bool = False
    media: Any = None  # a vision-language model's image inputs (pixel values, grid sizes)
