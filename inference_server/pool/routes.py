"""Admin API for the pool: its status, load, unload (the OpenAI model list is
``inference_server/catalog.py``)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Body

from inference_server.deps import ModelIdPath, PoolDep
from shared_schemas.errors import error_responses
from shared_schemas.pool import LoadRequest, LoadResult, PoolStatus, UnloadResult

router = APIRouter()


@router.get(
    "/admin/pool", response_model=PoolStatus, tags=["admin"], responses=error_responses(401)
)
async def pool_status(pool: PoolDep) -> PoolStatus:
    return pool.status()


@router.post(
    "/admin/models/{model_id:path}/load",
    response_model=LoadResult,
    tags=["admin"],
    responses=error_responses(400, 401, 404, 415, 422, 500, 503),
)
async def load_model(
    model_id: ModelIdPath, pool: PoolDep, body: LoadRequest | None = Body(default=None)
) -> LoadResult:
    request = body or LoadRequest()
    already = pool.state_of(model_id) is not None
    slot = await pool.ensure_ready(model_id, pin=request.pin)
    if request.keep_alive is not None:
        slot.keep_alive_until = time.time() + request.keep_alive
    return LoadResult(slot=slot.info(), loaded=not already)


@router.post(
    "/admin/models/{model_id:path}/unload",
    response_model=UnloadResult,
    tags=["admin"],
    responses=error_responses(400, 401),
)
async def unload_model(model_id: ModelIdPath, pool: PoolDep) -> UnloadResult:
    return UnloadResult(id=model_id, unloaded=await pool.unload(model_id))
