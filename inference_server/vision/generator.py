"""Generation for vision-language models through mlx-vlm, one sequence at a time.

``VisionGenerator`` offers the part of mlx-lm's ``BatchGenerator`` interface that the MLX
worker uses (``insert``, ``next``, ``remove``, ``close``), so a vision model's requests run
in the worker's loop beside every other model's batch. mlx-vlm's own batch generator shares
one sampler across its batch, which would give every request the first one's sampling
settings; so sequences here run one after another, each with its own sampler and logits
processors through mlx-vlm's ``generate_step``, and each ``next()`` advances the current one
by one token. Requests that arrive meanwhile wait in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VisionResponse:
    """The fields of a batch response that the worker reads."""

    uid: int
    token: int
    logprobs: Any
    finish_reason: str | None
    all_tokens: list[int]
    prompt_cache: Any = None


@dataclass(eq=False)
class _Sequence:
    uid: int
    prompt: list[int]
    max_tokens: int
    sampler: Any
    processors: list[Any]
    media: dict[str, Any] | None
    tokens: list[int] = field(default_factory=list)
    steps: Iterator[Any] | None = None


class VisionGenerator:
    def __init__(self, model: Any, stop_tokens: set[int], prefill_step_size: int) -> None:
        self.model = model
        self.stop_tokens = stop_tokens
        self.prefill_step_size = prefill_step_size
        self._waiting: deque[_Sequence] = deque()
        self._current: _Sequence | None = None
        self._next_uid = 0

    def insert(
        self,
        prompts: list[list[int]],
        max_tokens: list[int],
        caches: list[Any] | None = None,
        all_tokens: list[list[int]] | None = None,
        samplers: list[Any] | None = None,
        logits_processors: list[list[Any]] | None = None,
        media: list[dict[str, Any] | None] | None = None,
    ) -> list[int]:
        uids = []
        for i, prompt in enumerate(prompts):
            prefix = all_tokens[i] if all_tokens else []
            sequence = _Sequence(
                uid=self._next_uid,
                prompt=list(prefix) + list(prompt),
                max_tokens=max_tokens[i],
                sampler=samplers[i] if samplers else None,
                processors=list(logits_processors[i]) if logits_processors else [],
                media=media[i] if media else None,
            )
            self._next_uid += 1
            self._waiting.append(sequence)
            uids.append(sequence.uid)
        return uids

    def next(self) -> tuple[list[Any], list[VisionResponse]]:
        if self._current is None:
            if not self._waiting:
                return [], []
            self._current = self._waiting.popleft()
            self._current.steps = self._start(self._current)
        sequence = self._current
        assert sequence.steps is not None
        token, logprobs = next(sequence.steps)
        token = int(token)
        sequence.tokens.append(token)
        reason = None
        if token in self.stop_tokens:
            reason = "stop"
        elif len(sequence.tokens) >= sequence.max_tokens:
            reason = "length"
        if reason is not None:
            self._current = None
        response = VisionResponse(
            uid=sequence.uid,
            token=token,
            logprobs=logprobs,
            finish_reason=reason,
            all_tokens=sequence.prompt + sequence.tokens,
        )
        return [], [response]

    def _start(self, sequence: _Sequence) -> Iterator[Any]:
        import mlx.core as mx
        from mlx_vlm.generate.ar import generate_step

        media = dict(sequence.media or {})
        pixel_values = media.pop("pixel_values", None)
        mask = media.pop("attention_mask", None)
        media.pop("input_ids", None)
        sampler = sequence.sampler or (lambda logprobs: mx.argmax(logprobs, axis=-1))
        return generate_step(
            mx.array([sequence.prompt]),
            self.model,
            pixel_values,
            mask,
            max_tokens=sequence.max_tokens,
            sampler=sampler,
            logits_processors=sequence.processors,
            prefill_step_size=self.prefill_step_size,
            **media,
        )

    def remove(self, uids: list[int], return_prompt_caches: bool = False) -> dict[int, Any]:
        wanted = set(uids)
        self._waiting = deque(s for s in self._waiting if s.uid not in wanted)
        if self._current is not None and self._current.uid in wanted:
            self._current = None
        return {}

    def close(self) -> None:
        self._waiting.clear()
        self._current = None
