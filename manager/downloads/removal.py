"""What cancelling or deleting a download removes: its files, and for a job that is only a
row, the row's change.

- ``discard_files``: a stopped job's partials, and its blobs that no snapshot links to
  (fetched but never linked), except those another active job of the model still needs.
- ``cancel_or_delete_row``, for a job that is not in this manager's memory: a paused job is
  cancelled (its row marked, its files discarded, a ``status`` event), and so is one another
  manager runs, once paused through its row (``sharing.py``); a finished one is deleted (a
  failed one's files discarded too, a ``deleted`` event). A job in memory is cancelled by
  the job manager (``jobs.py``), which stops its task first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads import queries
from manager.downloads.cache import RepoCache
from manager.downloads.claims import RUNNABLE, JobClaims
from manager.downloads.events import EventBus
from manager.downloads.live import LiveJob, job_from_row, render_row
from manager.downloads.schemas import DownloadJob, FileStatus, JobDeletedEvent, JobEvent, JobStatus
from manager.downloads.sharing import pause_elsewhere
from manager.downloads.states import check_move
from manager.downloads.views import JobViews
from manager.metrics import ManagerMetrics


class JobRemoval:
    """Files and rows of jobs that stop for good (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cache_dir: Path,
        live: Mapping[str, LiveJob],
        views: JobViews,
        claims: JobClaims,
        events: EventBus,
        metrics: ManagerMetrics,
    ) -> None:
        self.cache_dir = cache_dir
        self._sessions = sessions
        self._live = live
        self._views = views
        self._claims = claims
        self._events = events
        self._metrics = metrics

    async def discard_files(self, job: LiveJob) -> None:
        """Remove a stopped job's partials and its blobs that no snapshot links to (fetched
        but never linked), except those another active job still needs."""
        needed = {
            state.file.etag
            for live in self._live.values()
            if live.id != job.id and live.model_id == job.model_id
            for state in live.files
        }
        repo = RepoCache(self.cache_dir, job.model_id)
        await asyncio.to_thread(repo.discard, [state.file for state in job.files], needed)
        for state in job.files:
            if state.file.etag not in needed:
                state.bytes_done = 0
                state.status = FileStatus.PENDING

    async def cancel_or_delete_row(self, current: DownloadJob) -> DownloadJob | None:
        """Cancel a job that is not in this manager's memory (the job, now cancelled): one
        another manager runs is paused through its row first. Delete a finished one (None)."""
        job_id = current.id
        if current.status.value in RUNNABLE:  # another manager runs it: paused, cancelled
            current = await pause_elsewhere(
                current, self._views, self._claims, self._events, publish=False
            )
            if current.status != JobStatus.PAUSED:
                return current  # it finished meanwhile
        async with session_scope(self._sessions) as session:
            row = await queries.job_row(session, job_id)
            status = JobStatus(row.status)
            stopped = job_from_row(row)
            if status == JobStatus.PAUSED:
                check_move(status, JobStatus.CANCELLED)
                queries.mark_cancelled(row, time.time())
                job: DownloadJob | None = render_row(row)
            else:
                await session.delete(row)
                job = None
        if status == JobStatus.PAUSED:
            await self.discard_files(stopped)
            assert job is not None
            self._metrics.downloads_finished.labels(JobStatus.CANCELLED.value).inc()
            self._events.publish(job_id, JobEvent(type="status", job=job))
            return job
        if status == JobStatus.FAILED:
            await self.discard_files(stopped)
        self._events.publish(job_id, JobDeletedEvent(job_id=job_id))
        return None
