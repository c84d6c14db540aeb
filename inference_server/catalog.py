"""The models this server can serve, with their pool state: ``/v1/models`` and
``/v1/models/{id}`` (the pool says what is loaded, generation what each model can be asked
for)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fastapi import APIRouter

from inference_server.deps import ModelIdPath, PoolDep, SettingsDep
from inference_server.errors import ModelNotFoundError
from inference_server.generation.features import model_capabilities
from inference_server.pool.kinds import ModelKind, classify
from inference_server.pool.resolve import find_model_path, list_local_model_ids
from inference_server.settings import InferenceSettings
from shared_schemas.errors import error_responses
from shared_schemas.model_config import context_length
from shared_schemas.openai import ModelCard, ModelList, ModelState, ModelType
from shared_schemas.pool import SlotInfo, SlotState

_STATE: dict[SlotState, ModelState] = {
    SlotState.READY: "loaded",
    SlotState.LOADING: "loading",
    SlotState.UNLOADING: "not-loaded",
    SlotState.FAILED: "not-loaded",
}


def _describe(path: Path | None) -> tuple[int | None, ModelType, list[str] | None]:
    """The model's context length, type (``embedding`` or ``chat``) and capabilities, from its
    folder: an embedding model serves ``embeddings`` only; a model mlx-vlm loads also takes
    images (``vision``)."""
    if path is None:
        return None, "chat", None
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict):
        return None, "chat", model_capabilities(path)
    kind = classify(path, config)
    length = context_length(config)
    if kind == ModelKind.EMBEDDING:
        return length, "embedding", ["embeddings"]
    capabilities = model_capabilities(path)
    if kind == ModelKind.VISION:
        capabilities.append("vision")
    return length, "chat", capabilities


def list_models(slots: list[SlotInfo], settings: InferenceSettings) -> list[ModelCard]:
    """Loaded models first, then every loadable model on disk (runs off the event loop)."""
    cache = settings.hf_cache_dir
    ids = list_local_model_ids(cache, settings.models_dirs)
    status = {s.id: s for s in slots}
    ordered = [i for i in status if i not in ids] + ids
    if settings.available_models:
        ordered = [i for i in ordered if i in settings.available_models]
    cards = []
    for model_id in ordered:
        slot = status.get(model_id)
        state: ModelState = _STATE[slot.state] if slot else "not-loaded"
        window, kind, capabilities = _describe(
            find_model_path(model_id, cache, settings.models_dirs)
        )
        cards.append(
            ModelCard(
                id=model_id,
                created=int(slot.loaded_at) if slot and slot.loaded_at else 0,
                owned_by=model_id.split("/", 1)[0],
                name=model_id.split("/", 1)[-1],
                context_length=window,
                type=kind,
                state=state,
                default=model_id == settings.default_model,
                capabilities=capabilities,
            )
        )
    return cards


router = APIRouter()


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
