"""How a download job comes into this manager's memory: a new request, or a row continued.

- **A request** (``submit``), one at a time per model and revision: a job already active for
  that revision, or, once the planner has resolved it, for its commit, is the answer; a model
  already complete in the cache is recorded as a finished job; otherwise the disk is checked,
  the row written and the job queued. When another manager (or a request for another name of
  the revision) wrote the row for that commit a moment before, its job is the answer.
- **A row** (``from_row``): a job read back from the database, queued, with its files'
  progress read from the disk, so its partial files are continued; a job resumed
  (``resume``) is checked against the disk and queued.
- **Recovery** (``recover``): the jobs a previous process left queued, downloading or
  verifying (with a shared database: those nobody holds) are claimed and queued again.

A new or resumed job is checked against the free disk space first (``preflight.py``). The
intake owns the Hub client and the planner (``plan.py``), from ``start`` to ``close``. The job
manager (``jobs.py``) owns the queue: the intake hands it each job to queue (``enqueue``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads import queries
from manager.downloads.cache import RepoCache
from manager.downloads.claims import JobClaims
from manager.downloads.live import LiveJob, job_from_row, render_row
from manager.downloads.locks import KeyedLocks
from manager.downloads.plan import DownloadPlan, HubPlanner
from manager.downloads.preflight import SpaceCheck
from manager.downloads.schemas import DownloadJob, DownloadRequest, FileStatus, JobStatus
from manager.downloads.states import check_move
from manager.downloads.tables import DownloadJobRow
from manager.downloads.views import JobViews
from manager.errors import WriteConflictError
from manager.hub.client import HubClient
from manager.hub.ids import parse_hub_id
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings
from shared_schemas.errors import ErrorBody

logger = logging.getLogger(__name__)


class Submitted(NamedTuple):
    """What a request came to: a job that was already there (``complete`` when the model is
    in the cache), or a new one, ``queued``."""

    job: DownloadJob
    complete: bool
    queued: LiveJob | None = None


class JobIntake:
    """New and continued jobs, handed to the job manager's queue (see the module docstring)."""

    def __init__(
        self,
        settings: ManagerSettings,
        sessions: async_sessionmaker[AsyncSession],
        metrics: ManagerMetrics,
        live: Mapping[str, LiveJob],
        views: JobViews,
        claims: JobClaims,
        *,
        space: SpaceCheck,
        enqueue: Callable[[LiveJob], None],
        prune_history: Callable[[], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.cache_dir = settings.hub_cache
        self._sessions = sessions
        self._metrics = metrics
        self._live = live
        self._views = views
        self._claims = claims
        self._space = space
        self._enqueue = enqueue
        self._prune_history = prune_history
        self._submit_locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._hub: HubClient | None = None
        self._planner: HubPlanner | None = None

    @property
    def planner(self) -> HubPlanner:
        assert self._planner is not None, "DownloadManager is not started"
        return self._planner

    async def start(self) -> None:
        """Open the Hub client the planner asks."""
        s = self.settings
        self._hub = HubClient(
            s.hub_endpoint, s.hub_token(), timeout_s=s.hub_timeout_s, metrics=self._metrics
        )
        await self._hub.__aenter__()
        self._planner = HubPlanner.for_settings(self._hub, s)

    async def close(self) -> None:
        if self._hub is not None:
            await self._hub.__aexit__(None, None, None)

    # ---- a request ----------------------------------------------------------------------------

    async def submit(self, request: DownloadRequest, warning: ErrorBody | None) -> Submitted:
        """The job for ``request``: the active one, the finished one of a model already in the
        cache, or a new one, queued. ``warning``: recorded on a new job."""
        parse_hub_id(request.model_id)
        async with self._submit_locks.hold((request.model_id, request.revision)):
            existing = await self._find_active(request.model_id, revision=request.revision)
            if existing is not None:
                return Submitted(existing, complete=False)
            plan = await self.planner.plan(
                request.model_id, request.revision, request.allow_patterns, request.format
            )
            existing = await self._find_active(request.model_id, commit=plan.commit)
            if existing is not None:
                return Submitted(existing, complete=False)
            repo = RepoCache(self.cache_dir, plan.model_id)
            if await asyncio.to_thread(repo.is_complete, plan.commit, plan.files):
                await asyncio.to_thread(repo.write_ref, plan.revision, plan.commit)
                return Submitted(await self._completed(plan, warning), complete=True)
            await self._space(repo, plan.files, exclude=None)
            try:
                live = await self._create(plan, warning)
            except WriteConflictError:
                # Another manager (or a request for another name of this revision) created
                # the job for this commit a moment ago: that is the job.
                existing = await self._find_active(request.model_id, commit=plan.commit)
                if existing is None:
                    raise
                return Submitted(existing, complete=False)
        return Submitted(live.render(), complete=False, queued=live)

    async def _find_active(
        self, model_id: str, *, revision: str | None = None, commit: str | None = None
    ) -> DownloadJob | None:
        for live in list(self._live.values()):
            if live.model_id == model_id and (
                (revision is not None and live.revision == revision)
                or (commit is not None and live.commit == commit)
            ):
                if live.status.active:
                    return live.render()
                await live.left.wait()  # its end is being saved: the row below tells
        return await self._views.active_row_job(model_id, revision=revision, commit=commit)

    async def _completed(self, plan: DownloadPlan, warning: ErrorBody | None) -> DownloadJob:
        """The finished job for a model already in the cache: the last one, or a new record."""
        async with session_scope(self._sessions) as session:
            row, new = await queries.completed_job(session, plan, warning)
            job = render_row(row)
        if new:
            await self._prune_history()
        return job

    async def _create(self, plan: DownloadPlan, warning: ErrorBody | None) -> LiveJob:
        now = time.time()
        row = queries.new_row(str(uuid.uuid4()), plan, JobStatus.QUEUED, now, warning)
        async with session_scope(self._sessions) as session:
            session.add(row)
        live = await self.from_row(row)
        live.updated_at = now
        self._enqueue(live)
        return live

    # ---- a row --------------------------------------------------------------------------------

    async def from_row(self, row: DownloadJobRow) -> LiveJob:
        """The job, queued, with its files' progress read from the disk."""
        assert row.commit is not None
        live = job_from_row(row)
        repo = RepoCache(self.cache_dir, live.model_id)
        on_disk = await asyncio.to_thread(
            lambda: [(repo.bytes_on_disk(s.file), repo.has_blob(s.file)) for s in live.files]
        )
        for state, (done, complete) in zip(live.files, on_disk, strict=True):
            state.bytes_done = done
            state.status = FileStatus.COMPLETED if complete else FileStatus.PENDING
        live.status = JobStatus.QUEUED
        live.updated_at = time.time()
        live.error = None
        live.finished_at = None
        return live

    async def resume(self, row: DownloadJobRow) -> LiveJob:
        """A paused or failed job continued: read back, checked against the disk, queued."""
        live = await self.from_row(row)
        repo = RepoCache(self.cache_dir, live.model_id)
        await self._space(repo, [f.file for f in live.files], exclude=None)
        self._enqueue(live)
        return live

    async def recover(self, *, busy: set[str], limit: int | None) -> None:
        """Queue again the jobs a previous process left queued, downloading or verifying
        (with a shared database: those nobody else holds, at most ``limit``), except
        ``busy``."""
        query = self._claims.adoptable(queries.oldest_first(), exclude=busy, limit=limit)
        async with session_scope(self._sessions) as session:
            rows = (await session.scalars(query)).all()
            for row in rows:
                self._claims.take(row)
                if row.status != JobStatus.QUEUED:
                    check_move(JobStatus(row.status), JobStatus.QUEUED)
                    row.status = JobStatus.QUEUED.value
                    row.updated_at = time.time()
        for row in rows:
            live = await self.from_row(row)
            self._enqueue(live)
            logger.info("continuing download %s of %s", live.id, live.model_id)
