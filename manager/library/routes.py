"""Library routes: local models, import, delete, compatibility, storage, and the inference
pool through the manager. Each route parses its input and calls one ``Library`` method."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from manager.downloads.deps import OwnedModelsDep
from manager.fleet.schemas import InferencePool
from manager.library.deps import LibraryDep, OptionalHubDep
from manager.library.queries import LibraryQuery
from manager.library.schemas import (
    CleanupResult,
    CompatibilityReport,
    DeleteResult,
    ImportedModel,
    ImportRequest,
    LocalModel,
    LocalModelList,
    StorageStats,
)
from shared_schemas.errors import error_responses
from shared_schemas.model_ids import MODEL_ID_PATTERN
from shared_schemas.pool import LoadRequest, LoadResult, UnloadResult

router = APIRouter()

ModelIdPath = Annotated[
    str,
    Path(
        description="`org/name` (Hugging Face cache) or `local/<name>` (imported).",
        max_length=512,
        json_schema_extra={"pattern": MODEL_ID_PATTERN},
    ),
]


@router.get(
    "/api/models/local",
    response_model=LocalModelList,
    tags=["library"],
    responses=error_responses(400, 401),
    summary="Models on disk, with characteristics, compatibility and pool state",
)
async def list_local_models(
    library: LibraryDep, query: Annotated[LibraryQuery, Query()]
) -> LocalModelList:
    return await library.list_local(query)


@router.get(
    "/api/models/local/{model_id:path}",
    response_model=LocalModel,
    tags=["library"],
    responses=error_responses(400, 401, 404),
    summary="One model on disk",
)
async def get_local_model(model_id: ModelIdPath, library: LibraryDep) -> LocalModel:
    return await library.get_local(model_id)


@router.delete(
    "/api/models/local/{model_id:path}",
    response_model=DeleteResult,
    tags=["library"],
    responses=error_responses(400, 401, 404, 409, 503),
    summary="Unload, then delete from disk (the repo's snapshots and unshared blobs)",
)
async def delete_local_model(
    model_id: ModelIdPath,
    library: LibraryDep,
    owned: OwnedModelsDep,
    dry_run: Annotated[
        bool, Query(description="Only report what would be removed and what stays.")
    ] = False,
) -> DeleteResult:
    return await library.delete(model_id, owned, dry_run=dry_run)


@router.post(
    "/api/models/import",
    response_model=ImportedModel,
    status_code=201,
    tags=["library"],
    responses=error_responses(400, 401, 409, 507),
    summary="Register a local folder or .gguf file as local/<name>; lists what was left out",
)
async def import_local_model(request: ImportRequest, library: LibraryDep) -> ImportedModel:
    return await library.import_model(request)


@router.get(
    "/api/models/compatibility/{model_id:path}",
    response_model=CompatibilityReport,
    tags=["library"],
    responses=error_responses(400, 401, 404, 502, 503),
    summary="Will it run here? Format, architecture, quantization, memory",
)
async def model_compatibility(
    model_id: ModelIdPath,
    library: LibraryDep,
    hub: OptionalHubDep,
    context_tokens: Annotated[
        int | None,
        Query(ge=1, le=10_000_000, description="Context for the KV cache estimate."),
    ] = None,
) -> CompatibilityReport:
    return await library.compatibility(model_id, context_tokens, hub)


@router.get(
    "/api/storage/stats",
    response_model=StorageStats,
    tags=["storage"],
    responses=error_responses(401),
    summary="Disk use: models, partial downloads, unreferenced blobs, free space",
)
async def storage_stats(library: LibraryDep, owned: OwnedModelsDep) -> StorageStats:
    return await library.storage_stats(owned)


@router.post(
    "/api/storage/cleanup",
    response_model=CleanupResult,
    tags=["storage"],
    responses=error_responses(400, 401),
    summary="Remove orphaned partial files, unreferenced blobs and stale imports",
)
async def storage_cleanup(
    library: LibraryDep,
    owned: OwnedModelsDep,
    dry_run: Annotated[bool, Query(description="Only report what would be removed.")] = False,
) -> CleanupResult:
    return await library.cleanup(owned, dry_run=dry_run)


HostQuery = Annotated[
    str | None,
    Query(
        max_length=2048,
        description="The inference server (its URL, as in GET /api/inference/pool `hosts`); "
        "default: where a request for the model would go (load), every server that has it "
        "loaded (unload).",
    ),
]


@router.get(
    "/api/inference/pool",
    response_model=InferencePool,
    tags=["inference"],
    responses=error_responses(401, 502, 503),
    summary="The inference servers' model pools: summed, and each server's in `hosts`",
)
async def inference_pool(library: LibraryDep) -> InferencePool:
    return await library.pool_status()


@router.post(
    "/api/inference/models/{model_id:path}/load",
    response_model=LoadResult,
    tags=["inference"],
    responses=error_responses(400, 401, 404, 422, 500, 502, 503),
    summary="Load a model into the inference server's pool",
)
async def inference_load(
    model_id: ModelIdPath,
    library: LibraryDep,
    body: Annotated[LoadRequest | None, Body()] = None,
    host: HostQuery = None,
) -> LoadResult:
    return await library.load(model_id, body, host)


@router.post(
    "/api/inference/models/{model_id:path}/unload",
    response_model=UnloadResult,
    tags=["inference"],
    responses=error_responses(400, 401, 404, 502, 503),
    summary="Unload a model from the inference server's pool",
)
async def inference_unload(
    model_id: ModelIdPath, library: LibraryDep, host: HostQuery = None
) -> UnloadResult:
    return await library.unload(model_id, host)
