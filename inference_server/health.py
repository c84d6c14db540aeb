"""Liveness and readiness: /health never waits on MLX."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from inference_server.deps import PoolDep, WorkerDep

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(worker: WorkerDep, pool: PoolDep) -> JSONResponse:
    alive = worker.alive
    body = {"status": "ready" if alive else "not-ready", "worker": alive}
    body["loaded_models"] = [s.id for s in pool.status().slots]  # type: ignore[assignment]
    return JSONResponse(body, status_code=200 if alive else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
