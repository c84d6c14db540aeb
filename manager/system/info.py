"""Building the ``/api/system`` answer."""

from __future__ import annotations

import shutil
from pathlib import Path

from manager.fleet.health import HostHealth
from manager.inference_watch import InferenceView
from manager.settings import ManagerSettings
from manager.system.schemas import DiskInfo, InferenceHostInfo, InferenceInfo, SystemInfo
from shared_schemas.capabilities import modelyard_version
from shared_schemas.storage import canonical


def free_bytes(path: Path) -> int:
    """Free space on the disk of ``path``, or of its nearest existing parent (I/O)."""
    probe = canonical(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def single_inference(url: str, view: InferenceView) -> InferenceInfo:
    """One inference server, as its watch last saw it. Pure."""
    host = InferenceHostInfo(
        url=url,
        up=bool(view.reachable),
        reachable=bool(view.reachable),
        error=view.error,
        capabilities=view.capabilities,
        storage_agrees=view.storage_agrees,
        mismatches=view.mismatch_messages(),
    )
    return InferenceInfo(
        url=url,
        reachable=host.reachable,
        capabilities=host.capabilities,
        storage_agrees=host.storage_agrees,
        mismatches=host.mismatches,
        hosts=[host],
    )


def fleet_inference(hosts: list[HostHealth]) -> InferenceInfo:
    """Several inference servers as last checked (see ``InferenceInfo``). Pure."""
    infos = [
        InferenceHostInfo(
            url=h.url,
            up=h.up,
            reachable=h.answering,
            error=h.problem(),
            capabilities=h.capabilities,
            storage_agrees=h.storage_agrees,
            mismatches=h.mismatch_messages(),
        )
        for h in hosts
    ]
    asked = [i.storage_agrees for i in infos if i.storage_agrees is not None]
    answering = [i.capabilities for i in infos if i.reachable and i.capabilities is not None]
    known = [i.capabilities for i in infos if i.capabilities is not None]
    return InferenceInfo(
        url=infos[0].url,
        reachable=any(i.reachable for i in infos),
        capabilities=next(iter(answering or known), None),
        storage_agrees=all(asked) if asked else None,
        mismatches=[m for i in infos for m in i.mismatches],
        hosts=infos,
    )


def system_info(
    settings: ManagerSettings, inference: InferenceInfo, *, free: int, local_models: int
) -> SystemInfo:
    """The answer from the settings, the inference servers and two measurements. Pure."""
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
        inference=inference,
    )
