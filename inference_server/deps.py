"""Dependency aliases for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from inference_server.embeddings.service import EmbeddingService
from inference_server.generation.service import GenerationService
from inference_server.pool.pool import ModelPool
from inference_server.pool.resolve import validate_model_id
from inference_server.runtime.worker import MLXWorker
from inference_server.settings import InferenceSettings
from shared_schemas.model_ids import MODEL_ID_PATTERN


async def _settings(request: Request) -> InferenceSettings:
    settings: InferenceSettings = request.app.state.settings
    return settings


async def _pool(request: Request) -> ModelPool:
    pool: ModelPool = request.app.state.pool
    return pool


async def _worker(request: Request) -> MLXWorker:
    worker: MLXWorker = request.app.state.worker
    return worker


async def _service(request: Request) -> GenerationService:
    service: GenerationService = request.app.state.generation
    return service


async def _embeddings(request: Request) -> EmbeddingService:
    service: EmbeddingService = request.app.state.embeddings
    return service


async def _model_id(
    model_id: Annotated[
        str,
        Path(
            description="'org/name' (Hugging Face cache) or 'local/<name>' (models directories).",
            # Declared for clients and fuzzers; checked by validate_model_id (400 invalid_model_id).
            json_schema_extra={"pattern": MODEL_ID_PATTERN},  # it bounds the length too
        ),
    ],
) -> str:
    return validate_model_id(model_id)


SettingsDep = Annotated[InferenceSettings, Depends(_settings)]
PoolDep = Annotated[ModelPool, Depends(_pool)]
WorkerDep = Annotated[MLXWorker, Depends(_worker)]
GenerationDep = Annotated[GenerationService, Depends(_service)]
EmbeddingDep = Annotated[EmbeddingService, Depends(_embeddings)]
ModelIdPath = Annotated[str, Depends(_model_id)]
