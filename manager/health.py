"""Liveness, readiness and metrics of the manager.

``/health`` is liveness only: it answers at once and touches nothing. ``/ready`` answers 200
when every check passes and 503 naming the failing ones otherwise:

- ``database``: the schema is in place and the database answers a query;
- ``inference``: the inference server answers and describes itself (``/admin/capabilities``);
- ``storage``: the inference server reads the folders the manager keeps models in.

With several inference servers (``manager/fleet/health.py``) the manager is ready when at
least one of them serves, and ``hosts`` says which do not; with one, ``hosts`` is that one.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from manager.database import ping
from manager.deps import EngineDep, FleetDep, InferenceWatchDep, MetricsDep
from manager.errors import DatabaseUnavailableError
from manager.fleet import health as fleet_health
from manager.fleet.health import HostHealth
from manager.inference_watch import InferenceView
from shared_schemas.errors import error_responses
from shared_schemas.storage import MISMATCH_ADVICE

router = APIRouter(tags=["ops"])


class ReadyCheck(BaseModel):
    ok: bool
    message: str | None = None


class ReadyChecks(BaseModel):
    database: ReadyCheck
    inference: ReadyCheck
    storage: ReadyCheck


class ReadyHost(BaseModel):
    url: str
    ok: bool = Field(description="It answers and describes itself.")
    message: str | None = Field(default=None, description="Why not, when it does not.")


class ReadyStatus(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: ReadyChecks
    hosts: list[ReadyHost] = Field(
        default_factory=list, description="Each inference server (ready when one serves)."
    )


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answers at once, touches nothing."""
    return {"status": "ok"}


async def database_check(schema_error: str | None, engine: AsyncEngine) -> ReadyCheck:
    try:
        if schema_error:
            raise DatabaseUnavailableError(schema_error)
        await ping(engine)
    except DatabaseUnavailableError as exc:
        return ReadyCheck(ok=False, message=exc.message)
    return ReadyCheck(ok=True)


def inference_check(view: InferenceView, url: str) -> ReadyCheck:
    if not view.reachable:
        return ReadyCheck(ok=False, message=f"the inference server at {url} is unreachable")
    if view.error:
        return ReadyCheck(
            ok=False,
            message=f"the inference server at {url} answers but cannot be asked its "
            f"capabilities: {view.error}",
        )
    return ReadyCheck(ok=True)


def storage_check(view: InferenceView) -> ReadyCheck:
    if view.capabilities is None:
        return ReadyCheck(
            ok=False,
            message="not checked: the inference server could not be asked which folders "
            "it reads models from",
        )
    if view.mismatches:
        return ReadyCheck(
            ok=False, message="; ".join(view.mismatch_messages()) + ". " + MISMATCH_ADVICE
        )
    if view.stale:
        return ReadyCheck(ok=True, message="as the inference server reported when last reached")
    return ReadyCheck(ok=True)


def ready_status(database: ReadyCheck, view: InferenceView, url: str) -> ReadyStatus:
    """The readiness answer from the checks' results. Pure."""
    inference = inference_check(view, url)
    checks = ReadyChecks(database=database, inference=inference, storage=storage_check(view))
    host = ReadyHost(url=url, ok=inference.ok, message=inference.message)
    return _answer(checks, [host])


def fleet_ready_status(database: ReadyCheck, hosts: list[HostHealth]) -> ReadyStatus:
    """The readiness answer with several inference servers. Pure."""
    inference_ok, inference_message = fleet_health.inference_check(hosts)
    storage_ok, storage_message = fleet_health.storage_check(hosts)
    checks = ReadyChecks(
        database=database,
        inference=ReadyCheck(ok=inference_ok, message=inference_message),
        storage=ReadyCheck(ok=storage_ok, message=storage_message),
    )
    return _answer(checks, [ReadyHost(url=h.url, ok=h.serving, message=h.problem()) for h in hosts])


def _answer(checks: ReadyChecks, hosts: list[ReadyHost]) -> ReadyStatus:
    ok = checks.database.ok and checks.inference.ok and checks.storage.ok
    return ReadyStatus(status="ready" if ok else "not_ready", checks=checks, hosts=hosts)


@router.get(
    "/ready",
    response_model=ReadyStatus,
    responses={
        **error_responses(401),
        503: {"model": ReadyStatus, "description": "A check failed (see checks)"},
    },
    summary="Readiness: the database, the inference server, and the storage both read",
)
async def ready(
    request: Request, engine: EngineDep, watch: InferenceWatchDep, fleet: FleetDep
) -> JSONResponse:
    database_checked = database_check(request.app.state.schema.error, engine)
    if fleet is not None:
        database, hosts = await asyncio.gather(database_checked, fleet.check())
        body = fleet_ready_status(database, hosts)
    else:
        database, view = await asyncio.gather(database_checked, watch.check())
        body = ready_status(database, view, watch.url)
    if body.status == "ready":
        return JSONResponse(body.model_dump())
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "1"})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
