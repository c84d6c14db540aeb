"""Loading and releasing a model of each kind; both run on the MLX worker thread.

Chat models become a generation runtime owned by the worker (``MLXWorker.load_runtime``);
vision-language models a generation runtime backed by mlx-vlm; embedding models a runtime
the pool's slot holds. A sharded server refuses vision-language models (its other ranks
follow mlx-lm models alone); an embedding model, which never joins the ranks' batches, runs
on rank 0 alone, its bytes counted against the summed budget like any model. Releasing
drops the last reference on the worker thread, so MLX frees the weights there.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from inference_server.errors import ModelNotLoadableError
from inference_server.pool.kinds import ModelKind
from inference_server.runtime.models import Runtime
from inference_server.runtime.worker import MLXWorker


def load(
    worker: MLXWorker, kind: ModelKind, model_id: str, path: str, *, float32: bool
) -> tuple[Any, int]:
    """The loaded runtime and the memory it took."""
    if kind == ModelKind.VISION and worker.sharded:
        # Its steps would run on rank 0 alone (the other ranks follow mlx-lm models only),
        # and its sampling would move rank 0's random state away from theirs.
        raise ModelNotLoadableError(
            f"{model_id}: a vision-language model is not served by a sharded server "
            "(MLX_SERVER_DISTRIBUTED); the ranks share mlx-lm models only",
            code="not_served_sharded",
            details={"kind": kind.value},
            resolution_steps=["Serve it from an inference server that is not sharded."],
        )
    if kind == ModelKind.EMBEDDING:
        from inference_server.embeddings.runtime import load_embedding_runtime

        return load_embedding_runtime(model_id, Path(path), float32=float32)
    if kind == ModelKind.VISION:
        from inference_server.vision.runtime import load_vision_runtime

        return load_vision_runtime(worker, model_id, Path(path), float32=float32)
    runtime, used = worker.load_runtime(model_id, path, float32=float32)
    return runtime, used


def release(worker: MLXWorker, model_id: str, held: list[Any]) -> None:
    """Forget the model: the runtime in ``held`` (emptied here) and the worker's own."""
    import mlx.core as mx

    owned_by_worker = any(isinstance(runtime, Runtime) for runtime in held)
    held.clear()
    worker.unload_runtime(model_id)  # collects and clears MLX's cache for its own runtimes
    if not owned_by_worker:
        gc.collect()
        mx.clear_cache()
