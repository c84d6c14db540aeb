"""Hub routes: search, model details, quantized variants, and characteristics by id.

``/api/hub/models/{model_id:path}/variants`` and ``.../card`` are declared before the details
route, which would otherwise swallow them (``{model_id:path}`` matches slashes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from manager.deps import SettingsDep
from manager.hub.deps import HubDep
from manager.hub.schemas import (
    HubLibrary,
    HubModelCard,
    HubModelDetails,
    HubSearchPage,
    HubSort,
    HubVariants,
    ModelConfigInfo,
    VariantFormat,
)
from manager.hub.search import MAX_CURSOR, SearchQuery
from manager.library.deps import LibraryDep
from manager.library.search_verdicts import with_verdicts
from service_kit.responses import ModelResponse
from shared_schemas.errors import error_responses
from shared_schemas.model_ids import (
    HUB_ID_PATTERN,
    MAX_PART,
    MODEL_ID_PATTERN,
    PART_PATTERN,
)

router = APIRouter(tags=["hub"])

HubIdPath = Annotated[
    str,
    Path(
        description="Hub id (org/name).",
        max_length=512,
        json_schema_extra={"pattern": HUB_ID_PATTERN},
    ),
]
ModelIdPath = Annotated[
    str,
    Path(
        description="Hub id (org/name), or local/<name>.",
        max_length=512,
        json_schema_extra={"pattern": MODEL_ID_PATTERN},
    ),
]


@router.get(
    "/api/hub/search",
    response_model=HubSearchPage,
    responses=error_responses(400, 502, 503),
    summary="Search models on the Hub",
)
async def search_hub(
    hub: HubDep,
    models: LibraryDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=200, description="Text in the id.")] = None,
    author: Annotated[
        str | None,
        Query(pattern=rf"^{PART_PATTERN}$", max_length=MAX_PART, description="Org or user."),
    ] = None,
    library: Annotated[HubLibrary | None, Query()] = None,
    pipeline_tag: Annotated[
        str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", examples=["text-generation"])
    ] = None,
    sort: Annotated[HubSort, Query(description="Descending.")] = "downloads",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="next_cursor of the previous page; the page's other parameters are "
            "taken from it.",
        ),
    ] = None,
    configs: Annotated[
        bool,
        Query(
            description="Also read each result's config.json (bounded, cached) for complete "
            "badges; the listing alone gives family and quantization."
        ),
    ] = False,
    verdicts: Annotated[
        bool,
        Query(
            description="Also fill each result's `compatibility` (will it run here?), made "
            "for the whole page at once through the Hub cache: one call instead of one "
            "GET /api/models/compatibility/{id} per result."
        ),
    ] = False,
) -> ModelResponse:
    query = SearchQuery(
        q=q or None,
        author=author,
        library=library,
        pipeline_tag=pipeline_tag,
        sort=sort,
        limit=limit,
    )
    page = await hub.search(query, cursor=cursor, configs=configs)
    if verdicts:
        page = await with_verdicts(page, models, hub, settings.hub_concurrency)
    return ModelResponse(page)


@router.get(
    "/api/hub/models/{model_id:path}/variants",
    response_model=HubVariants,
    responses=error_responses(400, 403, 404, 502, 503),
    summary="Quantized variants (MLX, GGUF) of a base model",
)
async def hub_model_variants(
    hub: HubDep,
    model_id: HubIdPath,
    format: Annotated[VariantFormat | None, Query(description="Default: both.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Repositories per format.")] = 30,
) -> HubVariants:
    return await hub.variants(model_id, format, limit=limit)


@router.get(
    "/api/hub/models/{model_id:path}/card",
    response_model=HubModelCard,
    responses=error_responses(400, 403, 404, 502, 503),
    summary="A Hub model's card (README.md) as Markdown",
)
async def hub_model_card(hub: HubDep, model_id: HubIdPath) -> HubModelCard:
    return await hub.card(model_id)


@router.get(
    "/api/hub/models/{model_id:path}",
    response_model=HubModelDetails,
    responses=error_responses(400, 403, 404, 502, 503),
    summary="A Hub model's files, sizes, characteristics and badges",
)
async def hub_model_details(hub: HubDep, model_id: HubIdPath) -> HubModelDetails:
    return await hub.details(model_id)


@router.get(
    "/api/models/config/{model_id:path}",
    response_model=ModelConfigInfo,
    responses=error_responses(400, 403, 404, 502, 503),
    summary="A model's characteristics: the local copy first, else the Hub",
)
async def model_config(hub: HubDep, model_id: ModelIdPath) -> ModelConfigInfo:
    return await hub.model_config(model_id)
