"""``GET /api/system``: thin; the work is in ``info.py``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from manager.deps import InferenceWatchDep, SettingsDep
from manager.library.deps import LibraryDep
from manager.system.info import free_bytes, system_info
from manager.system.schemas import SystemInfo
from shared_schemas.errors import error_responses

router = APIRouter(tags=["system"])


@router.get(
    "/api/system",
    response_model=SystemInfo,
    responses=error_responses(401),
    summary="Folders, Hub, auth, disk, local models, and the inference server as seen from here",
)
async def get_system(
    settings: SettingsDep, watch: InferenceWatchDep, library: LibraryDep
) -> SystemInfo:
    view, free, models = await asyncio.gather(
        watch.check(),
        asyncio.to_thread(free_bytes, settings.hub_cache),
        asyncio.to_thread(library.scanner.scan),
    )
    return system_info(settings, view, free=free, local_models=len(models))
