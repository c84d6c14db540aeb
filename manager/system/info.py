"""Building the ``/api/system`` answer."""

from __future__ import annotations

import shutil
from pathlib import Path

from manager.inference_watch import InferenceView
from manager.settings import ManagerSettings
from manager.system.schemas import DiskInfo, InferenceInfo, SystemInfo
from shared_schemas.capabilities import modelyard_version
from shared_schemas.storage import canonical


def free_bytes(path: Path) -> int:
    """Free space on the disk of ``path``, or of its nearest existing parent (I/O)."""
    probe = canonical(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def system_info(
    settings: ManagerSettings, view: InferenceView, *, free: int, local_models: int
) -> SystemInfo:
    """The answer from the settings, the inference server's view and two measurements. Pure."""
    return SystemInfo(
        version=modelyard_version(),
        data_dir=str(canonical(settings.data_dir)),
        hf_cache_dir=str(canonical(settings.hub_cache)),
        models_dir=str(canonical(settings.local_models_dir)),
        hf_endpoint=settings.hub_endpoint,
        auth_required=settings.api_token is not None,
        bind_host=settings.host,
        disk=DiskInfo(free_bytes=free, reserve_bytes=int(settings.disk_reserve_gb * 2**30)),
        local_models=local_models,
        inference=InferenceInfo(
            url=settings.inference_url,
            reachable=bool(view.reachable),
            capabilities=view.capabilities,
            storage_agrees=view.storage_agrees,
            mismatches=view.mismatch_messages(),
        ),
    )
