"""The models this server can serve, with their pool state."""

from __future__ import annotations

import json

from inference_server.pool.kinds import ModelKind, classify
from inference_server.pool.resolve import find_model_path, hub_cache_dir, list_local_model_ids
from inference_server.settings import InferenceSettings
from shared_schemas.openai import ModelCard, ModelState, ModelType
from shared_schemas.pool import SlotInfo, SlotState

_STATE: dict[SlotState, ModelState] = {
    SlotState.READY: "loaded",
    SlotState.LOADING: "loading",
    SlotState.UNLOADING: "not-loaded",
    SlotState.FAILED: "not-loaded",
}


def _describe(model_id: str, settings: InferenceSettings) -> tuple[int | None, ModelType]:
    """The model's context length and type (``embedding`` or ``chat``) from its folder."""
    path = find_model_path(model_id, hub_cache_dir(settings.hf_cache_dir), settings.models_dirs)
    if path is None:
        return None, "chat"
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None, "chat"
    if not isinstance(config, dict):
        return None, "chat"
    kind: ModelType = "embedding" if classify(path, config) == ModelKind.EMBEDDING else "chat"
    value = config.get("max_position_embeddings")
    length = value if isinstance(value, int) and not isinstance(value, bool) else None
    return length, kind


def list_models(slots: list[SlotInfo], settings: InferenceSettings) -> list[ModelCard]:
    """Loaded models first, then every loadable model on disk (runs off the event loop)."""
    cache = hub_cache_dir(settings.hf_cache_dir)
    ids = list_local_model_ids(cache, settings.models_dirs)
    status = {s.id: s for s in slots}
    ordered = [i for i in status if i not in ids] + ids
    if settings.available_models:
        ordered = [i for i in ordered if i in settings.available_models]
    cards = []
    for model_id in ordered:
        slot = status.get(model_id)
        state: ModelState = _STATE[slot.state] if slot else "not-loaded"
        context_length, kind = _describe(model_id, settings)
        cards.append(
            ModelCard(
                id=model_id,
                created=int(slot.loaded_at) if slot and slot.loaded_at else 0,
                owned_by=model_id.split("/", 1)[0],
                name=model_id.split("/", 1)[-1],
                context_length=context_length,
                type=kind,
                state=state,
                default=model_id == settings.default_model,
            )
        )
    return cards
