"""The models this server can serve, with their pool state."""

from __future__ import annotations

import json
from pathlib import Path

from inference_server.generation.features import model_capabilities
from inference_server.pool.resolve import find_model_path, list_local_model_ids
from inference_server.settings import InferenceSettings
from shared_schemas.openai import ModelCard, ModelState
from shared_schemas.pool import SlotInfo, SlotState

_STATE: dict[SlotState, ModelState] = {
    SlotState.READY: "loaded",
    SlotState.LOADING: "loading",
    SlotState.UNLOADING: "not-loaded",
    SlotState.FAILED: "not-loaded",
}


def _context_length(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
        path = find_model_path(model_id, cache, settings.models_dirs)
        cards.append(
            ModelCard(
                id=model_id,
                created=int(slot.loaded_at) if slot and slot.loaded_at else 0,
                owned_by=model_id.split("/", 1)[0],
                name=model_id.split("/", 1)[-1],
                context_length=_context_length(path),
                state=state,
                default=model_id == settings.default_model,
                capabilities=model_capabilities(path) if path is not None else None,
            )
        )
    return cards
