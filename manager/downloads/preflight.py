"""Will it fit? The disk-space check made before a download is queued or continued.

:func:`missing_space` is pure: the bytes still to fetch, what the other active downloads still
need, the reserve and the free space in, a 507 ``INSUFFICIENT_STORAGE`` (with the figures and
the steps that make room) or None out. :func:`disk_usage` reads the free space of the disk a
folder is on, or will be on once it exists. :class:`SpaceCheck` makes the check for one job:
it reads what is already on disk and the free space (in threads), and counts what the other
jobs in this manager's memory still need.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from manager.downloads.cache import RepoCache
from manager.downloads.live import LiveJob
from manager.downloads.plan import RemoteFile
from manager.errors import InsufficientStorageError
from manager.settings import ManagerSettings

GB = 10**9


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsageFn = Callable[[Path], DiskUsage]


def disk_usage(path: Path) -> DiskUsage:
    """``shutil.disk_usage`` of ``path`` or of its nearest existing parent."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return DiskUsage(usage.total, usage.used, usage.free)


def human(n: float) -> str:
    """Bytes for a message: ``512 B``, ``1.5 MB``, ``2.0 TB`` (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def missing_space(
    model_id: str,
    *,
    needed: int,
    others: int,
    reserve: int,
    available: int,
    cache_dir: Path,
) -> InsufficientStorageError | None:
    """The refusal when ``needed`` bytes plus the other downloads' and the reserve do not fit
    in ``available``; None when they do. Pure."""
    required = needed + others + reserve
    if available >= required:
        return None
    return InsufficientStorageError(
        f"not enough disk space for '{model_id}': {human(required)} needed "
        f"({human(needed)} to download, {human(others)} for other downloads, "
        f"{human(reserve)} reserve), {human(available)} free",
        details={
            "required_space": required,
            "available_space": available,
            "model_id": model_id,
            "download_bytes": needed,
            "other_downloads_bytes": others,
            "reserve_bytes": reserve,
            "cache_dir": str(cache_dir),
        },
        resolution_steps=[
            "Free disk space: delete unused models (DELETE /api/models/local/{model_id}) "
            "or clean up partial files (POST /api/storage/cleanup).",
            "Download fewer files (allow_patterns) or a smaller quantization.",
            "Lower MODEL_MANAGER_DISK_RESERVE_GB, or point MODEL_MANAGER_HF_CACHE_DIR at a "
            "larger disk.",
        ],
    )


class SpaceCheck:
    """The check of one job against the cache's disk (see the module docstring)."""

    def __init__(
        self, settings: ManagerSettings, live: Mapping[str, LiveJob], disk_usage: DiskUsageFn
    ) -> None:
        self.settings = settings
        self._live = live
        self._disk_usage = disk_usage

    async def __call__(
        self, repo: RepoCache, files: Sequence[RemoteFile], *, exclude: str | None
    ) -> None:
        """Refuse (507) when the bytes still needed, plus the other active jobs' (all but
        ``exclude``) and the reserve, do not fit in the free space of the cache's disk."""
        needed = await asyncio.to_thread(lambda: sum(f.size - repo.bytes_on_disk(f) for f in files))
        refusal = missing_space(
            repo.repo_id,
            needed=needed,
            others=sum(
                live.bytes_total - live.bytes_done
                for live in self._live.values()
                if live.id != exclude
            ),
            reserve=int(self.settings.disk_reserve_gb * GB),
            available=(await asyncio.to_thread(self._disk_usage, repo.cache_dir)).free,
            cache_dir=repo.cache_dir,
        )
        if refusal is not None:
            raise refusal
