"""``GET /api/system``: thin; the work is in ``info.py``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from manager.deps import FleetDep, InferenceWatchDep, SettingsDep
from manager.fleet.fleet import Fleet
from manager.inference_watch import InferenceWatch
from manager.library.deps import LibraryDep
from manager.system.info import fleet_inference, free_bytes, single_inference, system_info
from manager.system.schemas import InferenceInfo, SystemInfo
from shared_schemas.errors import error_responses

router = APIRouter(tags=["system"])


@router.get(
    "/api/system",
    response_model=SystemInfo,
    responses=error_responses(401),
    summary="Folders, Hub, auth, disk, local models, and the inference server as seen from here",
)
async def get_system(
    settings: SettingsDep, watch: InferenceWatchDep, fleet: FleetDep, library: LibraryDep
) -> SystemInfo:
    inference, free, models = await asyncio.gather(
        _inference(watch, fleet),
        asyncio.to_thread(free_bytes, settings.hub_cache),
        asyncio.to_thread(library.scanner.scan),
    )
    return system_info(settings, inference, free=free, local_models=len(models))


async def _inference(watch: InferenceWatch, fleet: Fleet | None) -> InferenceInfo:
    if fleet is not None:
        return fleet_inference(await fleet.check())
    return single_inference(watch.url, await watch.check())
