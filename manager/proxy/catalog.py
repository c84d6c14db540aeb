"""``/v1/models`` and ``/v1/models/{id}``: the library's catalog (``Library.catalog``),
filtered by type or picked by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from manager.deps import InferenceWatchDep
from manager.errors import ModelNotFoundError
from manager.library.deps import LibraryDep
from shared_schemas.errors import error_responses
from shared_schemas.openai import ModelCard, ModelList, ModelType

router = APIRouter(tags=["openai"])


@router.get(
    "/v1/models",
    response_model=ModelList,
    responses=error_responses(400, 401),
    summary="The merged catalog: models on disk, loaded, and configured",
)
async def list_models(
    library: LibraryDep,
    watch: InferenceWatchDep,
    type: Annotated[ModelType | None, Query(description="Only models of this type.")] = None,
) -> ModelList:
    cards = await library.catalog(watch.view.hidden_sources)
    if type is not None:
        cards = [card for card in cards if card.type == type]
    return ModelList(data=cards)


@router.get(
    "/v1/models/{model_id:path}",
    response_model=ModelCard,
    responses=error_responses(401, 404),
    summary="One catalog entry",
)
async def retrieve_model(model_id: str, library: LibraryDep, watch: InferenceWatchDep) -> ModelCard:
    for card in await library.catalog(watch.view.hidden_sources):
        if card.id == model_id:
            return card
    raise ModelNotFoundError(
        f"The model '{model_id[:200]}' does not exist",
        param="model",
        resolution_steps=["List the available models with GET /v1/models."],
    )
