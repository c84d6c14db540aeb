"""Liveness and readiness: /health never waits on MLX."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from inference_server.deps import PoolDep, WorkerDep
from shared_schemas.errors import error_responses

router = APIRouter(tags=["ops"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    status: Literal["ready", "not-ready"]
    worker: bool
    loaded_models: list[str]


@router.get("/health", response_model=HealthStatus)
async def health() -> HealthStatus:
    return HealthStatus()


@router.get(
    "/ready",
    response_model=ReadyStatus,
    responses={
        **error_responses(401),
        503: {"model": ReadyStatus, "description": "The MLX worker is not running"},
    },
)
async def ready(worker: WorkerDep, pool: PoolDep) -> JSONResponse:
    alive = worker.alive
    body = ReadyStatus(
        status="ready" if alive else "not-ready",
        worker=alive,
        loaded_models=[s.id for s in pool.status().slots],
    )
    return JSONResponse(body.model_dump(), status_code=200 if alive else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401)},
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
