"""Dependency aliases for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from inference_server.generation.service import GenerationService
from inference_server.generation.worker import MLXWorker
from inference_server.pool.pool import ModelPool
from inference_server.settings import InferenceSettings


def _settings(request: Request) -> InferenceSettings:
    settings: InferenceSettings = request.app.state.settings
    return settings


def _pool(request: Request) -> ModelPool:
    pool: ModelPool = request.app.state.pool
    return pool


def _worker(request: Request) -> MLXWorker:
    worker: MLXWorker = request.app.state.worker
    return worker


def _service(request: Request) -> GenerationService:
    service: GenerationService = request.app.state.generation
    return service


SettingsDep = Annotated[InferenceSettings, Depends(_settings)]
PoolDep = Annotated[ModelPool, Depends(_pool)]
WorkerDep = Annotated[MLXWorker, Depends(_worker)]
GenerationDep = Annotated[GenerationService, Depends(_service)]
