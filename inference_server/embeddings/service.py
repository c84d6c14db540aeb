"""From an embeddings request to vectors: checks, tokenizing, padded batches on the worker.

Inputs are sorted by length and cut into batches of ``MLX_SERVER_EMBEDDING_BATCH_SIZE``, so
each padded batch wastes little; each batch is one call on the MLX worker, so concurrent
requests (and generation steps) take turns on the one thread that owns MLX. The model is
held for the whole request: it cannot be evicted meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from inference_server.embeddings.runtime import EmbeddingRuntime
from inference_server.errors import BadRequestError, ContextLengthExceededError
from inference_server.pool.kinds import ModelKind
from inference_server.pool.pool import ModelPool
from inference_server.runtime.worker import MLXWorker
from inference_server.settings import InferenceSettings
from shared_schemas.embeddings import (
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
)


class EmbeddingService:
    def __init__(
        self,
        pool: ModelPool,
        worker: MLXWorker,
        settings: InferenceSettings,
        model_id: Callable[[str | None], str],
    ) -> None:
        self._pool = pool
        self._worker = worker
        self._settings = settings
        self._model_id = model_id  # the requested (or default) model, if it is served here

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        model_id = self._model_id(request.model)
        kind = await self._pool.kind_of(model_id)
        if kind != ModelKind.EMBEDDING:
            raise BadRequestError(
                f"'{model_id}' is a {kind.value} model, not an embedding model",
                code="not_an_embedding_model",
                param="model",
                resolution_steps=["List embedding models with GET /v1/models?type=embedding."],
            )
        async with self._pool.use(model_id, keep_alive=request.keep_alive) as slot:
            runtime: EmbeddingRuntime = slot.runtime
            _check_dimensions(runtime, request.dimensions)
            texts = request.texts()
            if texts is not None:
                tokens = await asyncio.to_thread(runtime.tokenize, texts)
            else:
                tokens = request.token_lists()
            _check_tokens(runtime, tokens)
            vectors = await self._run(runtime, tokens, request.dimensions)
        count = sum(len(t) for t in tokens)
        data = [
            Embedding(embedding=_encode(vector, request.encoding_format), index=i)
            for i, vector in enumerate(vectors)
        ]
        return EmbeddingResponse(
            data=data,
            model=model_id,
            usage=EmbeddingUsage(prompt_tokens=count, total_tokens=count),
        )

    async def _run(
        self, runtime: EmbeddingRuntime, tokens: list[list[int]], dimensions: int | None
    ) -> list[npt.NDArray[np.float32]]:
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        size = self._settings.embedding_batch_size
        results: list[npt.NDArray[np.float32]] = [np.empty(0, np.float32)] * len(tokens)
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            batch = [tokens[i] for i in chunk]
            rows = await self._worker.call(functools.partial(runtime.embed, batch, dimensions))
            for i, row in zip(chunk, rows, strict=True):
                results[i] = row
        return results


def _check_dimensions(runtime: EmbeddingRuntime, dimensions: int | None) -> None:
    if dimensions is None:
        return
    spec = runtime.spec
    if spec.matryoshka_min is None:
        if dimensions == spec.dimension:
            return
        raise BadRequestError(
            f"'{runtime.model_id}' was not trained for shortened embeddings (Matryoshka); "
            f"it only gives {spec.dimension} dimensions",
            code="dimensions_not_supported",
            param="dimensions",
            details={"dimension": spec.dimension},
        )
    if not spec.matryoshka_min <= dimensions <= spec.dimension:
        raise BadRequestError(
            f"dimensions must be between {spec.matryoshka_min} and {spec.dimension} for "
            f"'{runtime.model_id}'",
            code="invalid_dimensions",
            param="dimensions",
            details={"min": spec.matryoshka_min, "max": spec.dimension},
        )


def _check_tokens(runtime: EmbeddingRuntime, tokens: list[list[int]]) -> None:
    limit = runtime.spec.max_tokens
    for index, ids in enumerate(tokens):
        if not ids:
            raise BadRequestError(f"input[{index}] has no tokens", param="input")
        if limit is not None and len(ids) > limit:
            raise ContextLengthExceededError(
                f"input[{index}] has {len(ids)} tokens; this model takes at most {limit}",
                param="input",
                details={"max_tokens": limit, "input_tokens": len(ids), "index": index},
            )
        top = max(ids)
        if top >= runtime.vocab_size:
            raise BadRequestError(
                f"input[{index}] holds token id {top}; this model's vocabulary has "
                f"{runtime.vocab_size} tokens",
                code="invalid_token_id",
                param="input",
            )


def _encode(vector: npt.NDArray[np.float32], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    values: list[float] = vector.tolist()
    return values
