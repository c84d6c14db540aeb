"""Liveness and readiness: /health never waits on MLX."""

from __future__ import annotations

import asyncio
import os
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from inference_server.deps import PoolDep, SettingsDep, WorkerDep
from inference_server.pool.resolve import loadable_model_types
from inference_server.settings import InferenceSettings
from shared_schemas.errors import error_responses

router = APIRouter(tags=["ops"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyCheck(BaseModel):
    ok: bool
    message: str | None = None


class ReadyStatus(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, ReadyCheck] = Field(
        description="worker: the MLX worker thread runs; mlx_lm: mlx-lm is installed and "
        "offers model types; storage: the model folders that exist can be read."
    )
    loaded_models: list[str]


@router.get("/health", response_model=HealthStatus)
async def health() -> HealthStatus:
    return HealthStatus()


def _worker_check(alive: bool, broken: str | None = None) -> ReadyCheck:
    if broken is not None:  # a sharded server that lost a rank
        return ReadyCheck(ok=False, message=broken)
    return ReadyCheck(ok=alive, message=None if alive else "the MLX worker thread is not running")


def _mlx_lm_check() -> ReadyCheck:
    if loadable_model_types():
        return ReadyCheck(ok=True)
    return ReadyCheck(ok=False, message="mlx-lm is not installed, or offers no model types")


def _storage_check(settings: InferenceSettings) -> ReadyCheck:
    """Folders that do not exist yet are fine (nothing downloaded or imported yet); one that
    exists but cannot be listed is not."""
    problems = []
    for folder in [settings.hf_cache_dir, *settings.models_dirs]:
        if folder.exists() and not (folder.is_dir() and os.access(folder, os.R_OK | os.X_OK)):
            problems.append(f"{folder} is not a readable folder")
    return ReadyCheck(ok=not problems, message="; ".join(problems) or None)


@router.get(
    "/ready",
    response_model=ReadyStatus,
    responses={
        **error_responses(401),
        503: {"model": ReadyStatus, "description": "A check failed (see checks)"},
    },
    summary="Readiness: the MLX worker, mlx-lm, and the model folders",
)
async def ready(worker: WorkerDep, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    mlx_lm, storage = await asyncio.gather(
        asyncio.to_thread(_mlx_lm_check), asyncio.to_thread(_storage_check, settings)
    )
    checks = {
        "worker": _worker_check(worker.alive, worker.broken),
        "mlx_lm": mlx_lm,
        "storage": storage,
    }
    ok = all(check.ok for check in checks.values())
    body = ReadyStatus(
        status="ready" if ok else "not_ready",
        checks=checks,
        loaded_models=[s.id for s in pool.status().slots],
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401)},
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
