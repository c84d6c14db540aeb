"""``GET /admin/capabilities``: what this server can load, where it reads models, its budget.

The manager asks this instead of looking at its own environment (the two may run on
different hosts with different mlx-lm versions and folders): its compatibility verdicts use
``model_types``, and it compares ``hf_cache_dir`` / ``models_dirs`` with its own folders.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from inference_server.deps import PoolDep, SettingsDep
from inference_server.generation.features import FEATURES
from inference_server.pool.kinds import vision_model_types
from inference_server.pool.pool import ModelPool
from inference_server.pool.resolve import served_model_types
from inference_server.settings import InferenceSettings
from shared_schemas.capabilities import InferenceCapabilities, modelyard_version, package_version
from shared_schemas.errors import error_responses
from shared_schemas.storage import canonical

router = APIRouter(tags=["admin"])


def describe(settings: InferenceSettings, pool: ModelPool) -> InferenceCapabilities:
    """This server's capabilities (reads mlx-lm's files once per process; run off the loop)."""
    return InferenceCapabilities(
        version=modelyard_version(),
        mlx_version=package_version("mlx"),
        mlx_lm_version=package_version("mlx-lm"),
        model_types=sorted(served_model_types()),
        vision_model_types=sorted(vision_model_types()),
        hf_cache_dir=str(canonical(settings.hf_cache_dir)),
        models_dirs=[str(canonical(path)) for path in settings.models_dirs],
        memory_budget_bytes=pool.max_memory_bytes,
        max_models=pool.max_models,
        cpu_blas=pool.cpu_blas.path if pool.cpu_blas else None,
        features=list(FEATURES),
    )


@router.get(
    "/admin/capabilities",
    response_model=InferenceCapabilities,
    responses=error_responses(401),
    summary="Versions, loadable model types, the folders models are read from, the budget",
)
async def capabilities(settings: SettingsDep, pool: PoolDep) -> InferenceCapabilities:
    return await asyncio.to_thread(describe, settings, pool)
