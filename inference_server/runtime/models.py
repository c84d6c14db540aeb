"""What the MLX worker holds for each loaded model: the model and its batch (``Runtime``),
the jobs in that batch (``JobState``), the worker's counters, and what building a runtime
needs (its batch generator, its compute dtype, the backend MLX computes on).

Everything here is used on the worker thread, except ``Runtime.tokenizer_lock`` (see there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inference_server.runtime.events import Job
from inference_server.runtime.stops import StopScanner


def on_cpu_backend() -> bool:
    """Whether MLX computes on the CPU here (``mlx[cpu]``), not on a GPU (Metal, CUDA)."""
    import mlx.core as mx

    return bool(mx.default_device().type == mx.DeviceType.cpu)


def compute_dtype(model: Any) -> str | None:
    """The dtype of the model's floating-point weights (the first one found), e.g. float32."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    arrays: Any = tree_flatten(model.parameters())
    for _name, array in arrays:
        if mx.issubdtype(array.dtype, mx.floating):
            return str(array.dtype).removeprefix("mlx.core.")
    return None


def new_generator(model: Any, tokenizer: Any, batch_sizes: tuple[int, int, int]) -> Any:
    """An mlx-lm ``BatchGenerator`` for the model; ``batch_sizes`` are the completion batch,
    the prefill batch and the prefill step."""
    from mlx_lm.generate import BatchGenerator

    completion, prefill, step = batch_sizes
    return BatchGenerator(
        model,
        stop_tokens=[[t] for t in sorted(tokenizer.eos_token_ids)],
        completion_batch_size=completion,
        # BatchGenerator decodes max(completion, prefill) sequences together: keep the
        # prefill batch within the completion batch so the latter is the real limit.
        prefill_batch_size=min(prefill, completion),
        prefill_step_size=step,
    )


@dataclass
class Runtime:
    """A loaded model and its batch.

    ``tokenizer_lock`` serialises the tokenizer's use off the event loop (a fast tokenizer
    must not be used by two threads at once); ``grammars`` and ``max_token_chars`` are
    filled on first use, under that lock.
    """

    model_id: str
    model: Any
    tokenizer: Any
    generator: Any
    prompt_cache: Any = None
    compute_dtype: str | None = None
    jobs: dict[int, JobState] = field(default_factory=dict)
    tokens_generated: int = 0
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: Any = None
    max_token_chars: int | None = None
    # Vision-language models (inference_server/vision): the image processor, and how to
    # build a fresh generator after a failed step; their jobs carry ``media``.
    processor: Any = None
    make_generator: Callable[[], Any] | None = None

    @property
    def multimodal(self) -> bool:
        return self.processor is not None

    @property
    def vocab_size(self) -> int:
        """Logits per step: the model's vocabulary (may exceed the tokenizer's)."""
        args = getattr(self.model, "args", None)
        size = getattr(args, "vocab_size", None)
        return int(size) if isinstance(size, int) and size > 0 else len(self.tokenizer)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)


@dataclass(eq=False)
class JobState:
    """A job whose tokens are being generated: its detokenizer and stop-sequence scanner."""

    job: Job
    detokenizer: Any
    scanner: StopScanner
    top_logprobs: int | None

    @classmethod
    def start(cls, job: Job, tokenizer: Any) -> JobState:
        detokenizer = tokenizer.detokenizer
        detokenizer.reset()
        return cls(
            job=job,
            detokenizer=detokenizer,
            scanner=StopScanner(job.stop),
            top_logprobs=job.params.top_logprobs,
        )


@dataclass
class WorkerStats:
    """Counters across the worker's batches."""

    steps: int = 0
    tokens: int = 0
    max_batch: int = 0
    last_batch: int = 0
