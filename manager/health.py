"""Liveness, readiness and metrics of the manager."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from manager.database import ping
from manager.deps import EngineDep, InferenceDep, MetricsDep
from manager.errors import DatabaseUnavailableError

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answers at once, touches nothing."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request, engine: EngineDep, inference: InferenceDep) -> JSONResponse:
    """Ready when the database answers; reports whether the inference server is up."""
    inference_up = await inference.health(wait_s=1.0)
    try:
        schema_error = request.app.state.schema.error
        if schema_error:
            raise DatabaseUnavailableError(schema_error)
        await ping(engine)
    except DatabaseUnavailableError as exc:
        body = {"status": "not-ready", "database": exc.message, "inference_server": inference_up}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    body = {"status": "ready", "database": "ok", "inference_server": inference_up}
    return JSONResponse(body)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
