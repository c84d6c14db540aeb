"""The catalog ``/v1/models`` answers: the manager's merged list of models, OpenAI-shaped.

Entries, in this order: the models on disk that the inference server can load (Hugging Face
cache, then imports; the others are in ``/api/models/local`` with their verdict), the models
the inference server has loaded that are not on this disk, then the configured catalog's models
served elsewhere (``MODEL_MANAGER_CATALOG_FILE``). A configured entry with the id of a model
above overrides its name, description, context length, type and owner.

Each entry has the OpenAI fields (``id``, ``object``, ``created``, ``owned_by``) and what a
frontend needs: ``name``, ``description``, ``contextLength``, ``type``, ``hosts`` (with several
inference servers: the state on each), ``state`` (``unknown``
when the inference server cannot be asked; ``not_visible_to_inference`` for a model on the
manager's disk in a folder the inference server does not read), ``default``
(``MODEL_MANAGER_DEFAULT_*_MODEL``), ``characteristics`` and ``capabilities`` (what the
model can be asked for: ``chat``, ``completion``, ``tools``, ``json_schema``, ``logprobs`` ...,
as the inference server lists them; null when it cannot be asked or does not serve the model,
see ``library/model_capabilities.py``).

:func:`build_catalog` is pure (but for the cache of rendered entries); ``Library.catalog``
gathers its inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from manager.library.queries import RecordView
from manager.library.scan import ScannedModel
from manager.library.schemas import StaticCatalogEntry
from manager.library.snapshot import LibrarySnapshot, RenderCache
from manager.settings import ManagerSettings
from shared_schemas.openai import ModelCard, ModelState


def readable_name(model_id: str) -> str:
    """``mlx-community/Qwen2.5-7B-Instruct-4bit`` → ``Qwen2.5 7B Instruct 4bit``."""
    last = model_id.rsplit("/", 1)[-1]
    return " ".join(part for part in last.replace("_", "-").split("-") if part) or model_id


def _owner(model_id: str) -> str:
    return model_id.split("/", 1)[0] if "/" in model_id else "modelyard"


def _overlay(card: ModelCard, entry: StaticCatalogEntry) -> ModelCard:
    update: dict[str, object] = {}
    if entry.name:
        update["name"] = entry.name
    if entry.description:
        update["description"] = entry.description
    if entry.context_length:
        update["context_length"] = entry.context_length
    if entry.type:
        update["type"] = entry.type
    if entry.provider:
        update["owned_by"] = entry.provider
    return card.model_copy(update=update) if update else card


def _local_card(
    model: ScannedModel,
    record: RecordView | None,
    state: ModelState,
    capabilities: list[str] | None,
    hosts: dict[str, ModelState] | None = None,
) -> ModelCard:
    ch = model.characteristics
    description = " · ".join(ch.badges) or None
    if model.format == "gguf":
        description = f"{description} · GGUF" if description else "GGUF"
    return ModelCard(
        id=model.id,
        created=int(record.added_at if record else model.modified_at),
        owned_by=_owner(model.id),
        name=readable_name(model.id),
        description=description,
        context_length=ch.context_length,
        type=model.kind,
        state=state,
        characteristics=model.characteristics_dict,
        capabilities=capabilities,
        hosts=hosts,
    )


def _state(model: ScannedModel, snap: LibrarySnapshot, hidden: frozenset[str]) -> ModelState:
    """The pool's state; a model the inference server cannot see (its folder is not read
    there) and has not loaded is ``not_visible_to_inference``."""
    state = snap.pool.state_of(model.id)
    if model.source in hidden and state in ("not-loaded", "unknown"):
        return "not_visible_to_inference"
    return state


def build_catalog(
    snap: LibrarySnapshot,
    configured: list[StaticCatalogEntry],
    defaults: set[str],
    rendered: RenderCache[ModelCard] | None = None,
    hidden: frozenset[str] = frozenset(),
    capabilities: Mapping[str, list[str]] | None = None,
) -> list[ModelCard]:
    """The merged catalog. Pure but for ``rendered``, where unchanged entries are reused.
    ``hidden``: the sources (``hub``, ``imported``) whose folder the inference server does
    not read. ``capabilities``: by model id, as the inference server lists them."""
    cache = rendered if rendered is not None else RenderCache[ModelCard]()
    listed = capabilities or {}
    cards: dict[str, ModelCard] = {}
    for model in snap.models:
        record = snap.records.get(model.id)
        state = _state(model, snap, hidden)
        can = listed.get(model.id)
        hosts = snap.pool.states_by_host(model.id)
        build = functools.partial(_local_card, model, record, state, can, hosts)
        cards[model.id] = cache.get(model.id, (model, record, state, can, hosts), build)
    cache.retain(set(cards))
    for slot in snap.pool.slots.values():
        if slot.id not in cards:
            cards[slot.id] = ModelCard(
                id=slot.id,
                created=int(slot.loaded_at or 0),
                owned_by=_owner(slot.id),
                name=readable_name(slot.id),
                state=snap.pool.state_of(slot.id),
                capabilities=listed.get(slot.id),
                hosts=snap.pool.states_by_host(slot.id),
            )
    for entry in configured:
        known = cards.get(entry.id)
        if known is not None:
            cards[entry.id] = _overlay(known, entry)
            continue
        cards[entry.id] = ModelCard(
            id=entry.id,
            owned_by=entry.provider or _owner(entry.id),
            name=entry.name or readable_name(entry.id),
            description=entry.description,
            context_length=entry.context_length,
            type=entry.type or "chat",
            state="unknown",
        )
    out = list(cards.values())
    for index, card in enumerate(out):
        if card.id in defaults:
            out[index] = card.model_copy(update={"default": True})
    return out


def default_ids(settings: ManagerSettings) -> set[str]:
    chosen = (
        settings.default_chat_model,
        settings.default_image_model,
        settings.default_speech_model,
        settings.default_embedding_model,
    )
    return {model_id for model_id in chosen if model_id}
