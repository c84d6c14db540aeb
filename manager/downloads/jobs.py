"""Download jobs: the queue, their states in SQLite, the tasks that run them.

``DownloadManager`` is entered once in the app's lifespan. It owns

- the jobs that are queued or running, in memory (``_live``, see ``live.py``); paused and
  finished jobs are only in the database (``queries.py``), so memory holds at most the
  active jobs;
- one asyncio task per running job (at most ``max_concurrent_downloads``), created by the
  manager and never by a request handler;
- the progress ticker (``progress.py``) and the event bus the SSE routes read.

This module keeps the queue and the state transitions. A job comes into memory through the
intake (``intake.py``: a request planned with the Hub, a row resumed or recovered); its run is
the runner's (``runner.py``: the byte engine fetches its files, in parallel up to
``max_files_per_download``, then its snapshot is linked); what a cancel or a delete removes
is ``removal.py``'s; the disk-space check is ``preflight.py``, the end of a run (linking,
the recorded error) ``finish.py``.

On start-up, jobs that were queued, downloading or verifying are queued again and continue
from their partial files. Pause and cancel stop the job's task (within a second: the task is
cancelled at its next await); pause keeps the partials, cancel removes them.

A job runs under a lease (``claims.py``). With a database several managers share
(PostgreSQL), each runs the jobs it holds, takes over those whose holder died, relays the
others' progress to its own subscribers, and pauses or cancels a job another manager runs by
changing its row (``sharing.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads import queries
from manager.downloads.claims import JobClaims
from manager.downloads.engine import DownloadEngine
from manager.downloads.events import EventBus
from manager.downloads.intake import JobIntake
from manager.downloads.live import LiveJob, render_row
from manager.downloads.locks import KeyedLocks
from manager.downloads.preflight import DiskUsageFn, SpaceCheck, disk_usage
from manager.downloads.progress import ProgressTicker
from manager.downloads.progress_log import DownloadLog, LoggedEventBus
from manager.downloads.removal import JobRemoval
from manager.downloads.runner import JobRunner, failure
from manager.downloads.schemas import (
    DownloadJob,
    DownloadRequest,
    FileStatus,
    JobEvent,
    JobStatus,
    SnapshotEvent,
)
from manager.downloads.sharing import SharedJobs, pause_elsewhere
from manager.downloads.states import Action, check_move, plan_action
from manager.downloads.views import JobViews
from manager.errors import DatabaseUnavailableError, ManagerError
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings
from shared_schemas.errors import ErrorBody

logger = logging.getLogger(__name__)

SAVE_INTERVAL_S = 2.0


class DownloadManager:
    """The download service of one manager process (see the module docstring)."""

    def __init__(
        self,
        settings: ManagerSettings,
        sessions: async_sessionmaker[AsyncSession],
        metrics: ManagerMetrics,
        *,
        disk_usage: DiskUsageFn = disk_usage,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._metrics = metrics
        self.disk_usage = disk_usage
        self.cache_dir = settings.hub_cache
        self.events: EventBus = LoggedEventBus(DownloadLog(), keepalive_s=settings.sse_keepalive_s)
        self._live: dict[str, LiveJob] = {}
        self.views = JobViews(sessions, self._live)
        self._queue: deque[str] = deque()
        self._running: set[str] = set()
        self._job_locks: KeyedLocks[str] = KeyedLocks()
        self._closing = False
        self._ticker: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self.claims = JobClaims.for_sessions(sessions, lease_s=settings.download_lease_s)
        self._sharing: SharedJobs | None = None
        # ``disk_usage`` is read at each check: replacing it takes effect at once.
        self._space = SpaceCheck(settings, self._live, lambda path: self.disk_usage(path))
        self._intake = JobIntake(
            settings,
            sessions,
            metrics,
            self._live,
            self.views,
            self.claims,
            space=self._space,
            enqueue=self._enqueue,
            prune_history=self._prune_history,
        )
        self._runner = JobRunner(settings, metrics, self._space)
        self._removal = JobRemoval(
            sessions, self.cache_dir, self._live, self.views, self.claims, self.events, metrics
        )

    # ----------------------------------------------------------------------------------------
    # Life cycle

    @property
    def engine(self) -> DownloadEngine:
        return self._runner.engine

    async def __aenter__(self) -> DownloadManager:
        s = self.settings
        self._runner.start()
        await self._intake.start()
        try:
            await self._recover()
        except DatabaseUnavailableError as exc:
            # Stay up: the jobs are picked up once the database answers again.
            logger.error("download jobs not recovered yet: %s", exc.message)
            self._recovery = asyncio.create_task(self._recover_later(), name="download-recovery")
        ticker = ProgressTicker(
            interval_s=s.download_progress_interval_s,
            # Other managers read the row for their clients: keep it as fresh as events.
            save_every_s=0.0 if self.claims.shared else SAVE_INTERVAL_S,
            running=lambda: (self._live[i] for i in list(self._running) if i in self._live),
            publish=self._publish_progress,
            save=lambda live: self._save(live, progress_only=True),
        )
        self._ticker = asyncio.create_task(ticker.run_forever(), name="download-progress")
        self._kick()
        if self.claims.shared:
            self._sharing = SharedJobs(
                self._sessions,
                self.claims,
                self,
                self.views.by_id,
                relay_interval_s=s.download_progress_interval_s,
            )
            await self._sharing.__aenter__()
        return self

    def _publish_progress(self, live: LiveJob) -> None:
        self.events.publish(live.id, JobEvent(type="progress", job=live.render()))

    async def _recover_later(self, interval_s: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._recover()
            except DatabaseUnavailableError as exc:
                logger.warning("download jobs still not recovered: %s", exc.message)
                continue
            self._kick()
            return

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        if self._sharing is not None:
            await self._sharing.__aexit__(exc_type, exc, tb)
        for background in (self._ticker, self._recovery):
            if background is not None:
                background.cancel()
                await asyncio.wait([background])
        tasks = [live.task for live in self._live.values() if live.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        # Jobs keep their status (queued/downloading): the next start continues them.
        for live in list(self._live.values()):
            with contextlib.suppress(ManagerError):
                await self._save(live, progress_only=True)
        with contextlib.suppress(ManagerError):  # another manager may continue them at once
            await self.claims.release(sorted(self.claims.held))
        self._live.clear()
        self._queue.clear()
        self._running.clear()
        self._update_gauges()
        await self._intake.close()
        self._runner.close()

    async def _recover(self, limit: int | None = None) -> None:
        """Queue again the jobs a previous process left (``JobIntake.recover``)."""
        if limit is None and self.claims.shared:
            limit = self.free_slots()
        busy = set(self._live) | self._job_locks.keys()  # not a job being paused here
        await self._intake.recover(busy=busy, limit=limit)

    # ----------------------------------------------------------------------------------------
    # Reading

    async def get(self, job_id: str) -> DownloadJob:
        return await self.views.get(job_id)

    async def list(
        self, *, statuses: Sequence[JobStatus] = (), limit: int = 100, offset: int = 0
    ) -> tuple[list[DownloadJob], int]:
        """Jobs, newest first, with the live progress of the running ones."""
        return await self.views.page(statuses=statuses, limit=limit, offset=offset)

    async def owned_model_ids(self) -> set[str]:
        """Models whose job still owns partial files (queued, running, paused, verifying):
        this is the library's ``DownloadOwnership``."""
        return {job.model_id for job in await self.views.active()}

    async def snapshot(self, job_id: str | None) -> SnapshotEvent:
        """The state an event stream starts from: one job, or every active job."""
        if job_id is not None:
            return SnapshotEvent(jobs=[await self.get(job_id)])
        return SnapshotEvent(jobs=await self.views.active())

    # ----------------------------------------------------------------------------------------
    # Starting

    async def submit(
        self, request: DownloadRequest, *, warning: ErrorBody | None = None
    ) -> tuple[DownloadJob, bool]:
        """Start a download, or return the job doing it; True when the model is complete.
        ``warning``: recorded on a new job (a model forced past its compatibility verdict)."""
        submitted = await self._intake.submit(request, warning)
        live = submitted.queued
        if live is None:
            return submitted.job, submitted.complete
        self.events.publish(live.id, JobEvent(type="status", job=live.render()))
        self._kick()
        return live.render(), False

    # ----------------------------------------------------------------------------------------
    # Running

    def _update_gauges(self) -> None:
        self._metrics.downloads_active.set(len(self._running))
        self._metrics.downloads_queued.set(len(self._queue))

    def _enqueue(self, live: LiveJob) -> None:
        """Hold the job in memory, at the end of the queue."""
        self._live[live.id] = live
        self._queue.append(live.id)

    def _kick(self) -> None:
        """Start queued jobs while there are free slots."""
        while (
            not self._closing
            and self._queue
            and len(self._running) < self.settings.max_concurrent_downloads
        ):
            job_id = self._queue.popleft()
            live = self._live.get(job_id)
            if live is None or live.status != JobStatus.QUEUED or live.task is not None:
                continue
            self._running.add(job_id)
            live.task = asyncio.create_task(self._run(live), name=f"download-{job_id}")
        self._update_gauges()

    async def _run(self, live: LiveJob) -> None:
        commit = live.commit
        assert commit is not None  # a job is created with the commit its plan resolved
        try:
            if not await self.claims.claim(live.id):
                await self._forget(live)  # another manager runs it
                return
            await self._runner.run(live, commit, self._move)
        except asyncio.CancelledError:
            # Pause, cancel or shutdown: the caller decides what becomes of the job.
            raise
        except Exception as exc:
            await self._end(live, JobStatus.FAILED, error=failure(live, exc))
        else:
            await self._end(live, JobStatus.COMPLETED)
        finally:
            self._running.discard(live.id)

    async def _move(self, live: LiveJob, status: JobStatus) -> None:
        check_move(live.status, status)
        live.status = status
        live.updated_at = time.time()
        await self._save(live)
        self.events.publish(live.id, JobEvent(type="status", job=live.render()))

    async def _end(
        self, live: LiveJob, status: JobStatus, *, error: dict[str, Any] | None = None
    ) -> DownloadJob:
        """Leave memory: completed, failed, paused or cancelled."""
        check_move(live.status, status)
        live.status = status
        now = time.time()
        live.updated_at = now
        finished = status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
        if status == JobStatus.COMPLETED:
            for state in live.files:
                state.status = FileStatus.COMPLETED
                state.bytes_done = state.file.size
        live.error = error
        live.finished_at = now if finished else None
        if finished:  # counted before the first await: a reader that sees the status sees it
            self._metrics.downloads_finished.labels(status.value).inc()
        try:
            await self._save(live, error=error, finished_at=live.finished_at)
        except ManagerError as exc:
            # The row keeps its old state; a restart picks the job up again.
            logger.error("could not record download %s as %s: %s", live.id, status, exc.message)
        self._live.pop(live.id, None)
        live.left.set()
        self._running.discard(live.id)
        with contextlib.suppress(ValueError):
            self._queue.remove(live.id)
        with contextlib.suppress(ManagerError):
            await self.claims.release([live.id])
        job = live.render()
        self.events.publish(live.id, JobEvent(type="status", job=job))
        if finished:
            await self._prune_history()
        self._kick()
        return job

    async def _save(
        self,
        live: LiveJob,
        *,
        progress_only: bool = False,
        error: dict[str, Any] | None = None,
        finished_at: float | None = None,
    ) -> None:
        """Write the job's row and its files' rows (``progress_only``: bytes, not status)."""
        async with live.db_lock:
            values = live.row_values(progress_only, error=error, finished_at=finished_at)
            async with session_scope(self._sessions) as session:
                await queries.update_job(session, live.id, values, live.file_values())
            live.last_saved = time.monotonic()

    async def _prune_history(self) -> None:
        async with session_scope(self._sessions) as session:
            await queries.prune_history(session, self.settings.download_history_max)

    # ----------------------------------------------------------------------------------------
    # Pause, resume, cancel, delete

    async def _stop_task(self, live: LiveJob) -> None:
        """Stop a running job's task and wait for it (its files are closed when this returns).

        A job that is verifying has every byte: it is left to finish (linking takes
        milliseconds) rather than cut between its last blob and its ref."""
        task = live.task
        if task is not None and not task.done():
            if live.status != JobStatus.VERIFYING:
                task.cancel()
            await asyncio.wait([task])
        live.task = None
        self._running.discard(live.id)
        live.files_pending_again()

    async def pause(self, job_id: str) -> DownloadJob:
        async with self._job_locks.hold(job_id):
            live = self._live.get(job_id)
            if live is None:
                job = await self.get(job_id)
                if plan_action(job.status, Action.PAUSE) is not None:
                    return await pause_elsewhere(job, self.views, self.claims, self.events)
                return job
            if plan_action(live.status, Action.PAUSE) is None:
                return live.render()
            await self._stop_task(live)
            if live.id not in self._live:  # it finished while stopping
                return await self.get(job_id)
            return await self._end(live, JobStatus.PAUSED)

    async def resume(self, job_id: str) -> DownloadJob:
        async with self._job_locks.hold(job_id):
            live = self._live.get(job_id)
            if live is not None and not live.status.active:
                # It is on its way out of memory (its end is being saved): resume the row.
                await live.left.wait()
                live = None
            if live is not None:
                plan_action(live.status, Action.RESUME)
                return live.render()
            async with session_scope(self._sessions) as session:
                row = await queries.job_row(session, job_id)
                if plan_action(JobStatus(row.status), Action.RESUME) is None:
                    return render_row(row)
            live = await self._intake.resume(row)
            await self._save(live)
            self.events.publish(live.id, JobEvent(type="status", job=live.render()))
            self._kick()
            return live.render()

    async def cancel_or_delete(self, job_id: str) -> DownloadJob | None:
        """Cancel an active job (the job, now cancelled); remove a finished one (None)."""
        async with self._job_locks.hold(job_id):
            live = self._live.get(job_id)
            if live is not None:
                await self._stop_task(live)
                if live.id not in self._live:  # it finished while stopping
                    return await self.get(job_id)
                await self._removal.discard_files(live)
                return await self._end(live, JobStatus.CANCELLED)
            return await self._removal.cancel_or_delete_row(await self.get(job_id))

    # ----------------------------------------------------------------------------------------
    # Sharing the database with other managers (``sharing.py`` calls these)

    def free_slots(self) -> int:
        busy = len(self._running) + len(self._queue)
        return max(0, self.settings.max_concurrent_downloads - busy)

    def live_ids(self) -> set[str]:
        return set(self._live)

    def waiting_ids(self) -> set[str]:
        return {job_id for job_id, live in self._live.items() if live.task is None}

    async def adopt(self, limit: int) -> None:
        await self._recover(limit)
        self._kick()

    async def drop(self, job_id: str) -> None:
        async with self._job_locks.hold(job_id):
            live = self._live.get(job_id)
            if live is not None:
                await self._stop_task(live)
                await self._forget(live)
            with contextlib.suppress(ManagerError):
                await self.claims.release([job_id])

    async def _forget(self, live: LiveJob) -> None:
        """Leave memory without writing the row: the job is another manager's."""
        self._live.pop(live.id, None)
        self._running.discard(live.id)
        with contextlib.suppress(ValueError):
            self._queue.remove(live.id)
        self.claims.held.discard(live.id)
        self._kick()
