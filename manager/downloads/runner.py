"""The work of one running job, once it holds its lease: check the disk, fetch the files it
still needs, link its snapshot.

Files are fetched by the byte engine (``engine.py``, owned here), largest first, at most
``max_files_per_download`` at a time; the snapshot is linked (``finish.py``) once every blob
is verified. The job moves to ``downloading`` and then ``verifying`` through the job
manager's ``move``; a failure propagates, and :func:`failure` is what the job records. The
job's end is the job manager's to write (``jobs.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from manager.downloads.cache import RepoCache
from manager.downloads.engine import DownloadEngine
from manager.downloads.file_state import FileState
from manager.downloads.finish import error_body, first_error, link_files
from manager.downloads.live import LiveJob
from manager.downloads.preflight import SpaceCheck
from manager.downloads.schemas import FileStatus, JobStatus
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings

logger = logging.getLogger(__name__)

Move = Callable[[LiveJob, JobStatus], Awaitable[None]]


class JobRunner:
    """Runs the work of jobs (see the module docstring); owns the byte engine they share,
    from ``start`` to ``close``."""

    def __init__(
        self, settings: ManagerSettings, metrics: ManagerMetrics, space: SpaceCheck
    ) -> None:
        self.settings = settings
        self.cache_dir = settings.hub_cache
        self._metrics = metrics
        self._space = space
        self._engine: DownloadEngine | None = None

    @property
    def engine(self) -> DownloadEngine:
        assert self._engine is not None, "DownloadManager is not started"
        return self._engine

    def start(self) -> None:
        self._engine = DownloadEngine.for_settings(self.settings, self._metrics)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    async def run(self, live: LiveJob, commit: str, move: Move) -> None:
        """Check the disk, fetch what is missing, link the snapshot. Raises on a failure."""
        repo = RepoCache(self.cache_dir, live.model_id)
        await self._space(repo, [f.file for f in live.files], exclude=live.id)
        live.started_at = live.started_at or time.time()
        await move(live, JobStatus.DOWNLOADING)
        limit = asyncio.Semaphore(self.settings.max_files_per_download)

        async def fetch(state: FileState) -> None:
            async with limit:
                await self.engine.fetch(repo, commit, state)

        todo = [f for f in live.files if f.status != FileStatus.COMPLETED]
        async with asyncio.TaskGroup() as group:
            for state in sorted(todo, key=lambda f: -f.file.size):
                group.create_task(fetch(state))
        await move(live, JobStatus.VERIFYING)
        files = [state.file for state in live.files]
        await asyncio.to_thread(link_files, repo, commit, files, live.revision)


def failure(live: LiveJob, exc: Exception) -> dict[str, Any]:
    """What a failed run records (the telling error's body); the files it was fetching or
    verifying are pending again."""
    error = first_error(exc)
    live.files_pending_again()
    logger.warning("download %s of %s failed: %s", live.id, live.model_id, error)
    return error_body(error)
