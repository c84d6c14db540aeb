"""Admin API for the pool and the OpenAI model list."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Body

from inference_server.deps import ModelIdPath, PoolDep, SettingsDep
from inference_server.errors import ModelNotFoundError
from inference_server.pool.catalog import list_models
from shared_schemas.errors import error_responses
from shared_schemas.openai import ModelCard, ModelList
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


@router.get("/v1/models", response_model=ModelList, tags=["openai"], responses=error_responses(401))
async def models(pool: PoolDep, settings: SettingsDep) -> ModelList:
    return ModelList(data=await asyncio.to_thread(list_models, pool.status().slots, settings))


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard,
    tags=["openai"],
    responses=error_responses(400, 401, 404),
)
async def model(model_id: ModelIdPath, pool: PoolDep, settings: SettingsDep) -> ModelCard:
    for card in await asyncio.to_thread(list_models, pool.status().slots, settings):
        if card.id == model_id:
            return card
    raise ModelNotFoundError(f"The model '{model_id}' does not exist", param="model")
