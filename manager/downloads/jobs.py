"""Download jobs: the queue, their states in SQLite, the tasks that run them.

``DownloadManager`` is entered once in the app's lifespan. It owns

- an httpx client for the Hub, the byte engine and the planner;
- the jobs that are queued or running, in memory (``_live``); paused and finished jobs are
  only in the database, so memory holds at most the active jobs;
- one asyncio task per running job (at most ``max_concurrent_downloads``), created by the
  manager and never by a request handler; files inside a job run in parallel, bounded by
  ``max_files_per_download``;
- one ticker that publishes progress (at most every ``download_progress_interval_s`` per job)
  and saves it to the database every couple of seconds;
- the event bus the SSE routes read.

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
import errno
import logging
import shutil
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads.cache import RepoCache
from manager.downloads.claims import RUNNABLE, JobClaims
from manager.downloads.engine import DownloadEngine, FileState
from manager.downloads.events import EventBus
from manager.downloads.plan import DownloadPlan, HubPlanner, RemoteFile
from manager.downloads.progress_log import DownloadLog, LoggedEventBus
from manager.downloads.sharing import SharedJobs
from manager.downloads.states import Action, check_move, plan_action
from manager.downloads.tables import DownloadFileRow, DownloadJobRow, DownloadWarningRow
from manager.errors import (
    DatabaseUnavailableError,
    HubResponseError,
    InsufficientStorageError,
    ManagerError,
    NotFoundError,
    WriteConflictError,
)
from manager.hub.ids import parse_hub_id
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings
from shared_schemas.downloads import (
    ACTIVE_STATUSES,
    DownloadJob,
    DownloadRequest,
    FileProgress,
    FileStatus,
    JobDeletedEvent,
    JobEvent,
    JobStatus,
    SnapshotEvent,
)
from shared_schemas.errors import ErrorBody

logger = logging.getLogger(__name__)

SAVE_INTERVAL_S = 2.0
SPEED_SMOOTHING = 0.3
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


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _error_body(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ManagerError):
        body: dict[str, Any] = exc.body()["error"]
        return body
    logger.error("download failed unexpectedly", exc_info=exc)
    return ErrorBody(
        message=f"the download failed: {type(exc).__name__}: {exc}",
        type="server_error",
        code="internal_error",
        src="manager",
    ).model_dump()


def _link_error(exc: OSError, live: LiveJob) -> ManagerError:
    """Why the snapshot could not be made (nothing of it was kept)."""
    details = {"model_id": live.model_id, "commit": live.commit, "reason": str(exc)}
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorageError(
            f"the disk filled up while linking '{live.model_id}' into the cache",
            details=details,
            resolution_steps=[
                "Free disk space, then resume the download (the verified files are kept).",
            ],
        )
    return ManagerError(
        f"'{live.model_id}' could not be linked into the cache: {exc.strerror or exc}"
        + (f" ({exc.filename})" if exc.filename else ""),
        code="cache_write_failed",
        details=details,
        resolution_steps=[
            "Nothing of the snapshot was kept; the verified files stay in blobs/.",
            "Check the cache folder (MODEL_MANAGER_HF_CACHE_DIR): permissions, and files or "
            "folders left in snapshots/ by another tool, then resume the download.",
        ],
    )


def _first_error(exc: BaseException) -> BaseException:
    """The most telling error of a task group's failure (a ManagerError when there is one)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []
        stack: list[BaseException] = [exc]
        while stack:
            item = stack.pop()
            if isinstance(item, BaseExceptionGroup):
                stack.extend(item.exceptions)
            else:
                leaves.append(item)
        for leaf in leaves:
            if isinstance(leaf, ManagerError):
                return leaf
        return leaves[0] if leaves else exc
    return exc


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    def keys(self) -> set[Any]:
        return set(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass
class LiveJob:
    """A queued or running job, in memory."""

    id: str
    model_id: str
    revision: str
    commit: str
    format: str | None
    allow_patterns: list[str]
    status: JobStatus
    files: list[FileState]
    created_at: float
    updated_at: float
    started_at: float | None = None
    transferred_before: int = 0
    task: asyncio.Task[None] | None = None
    speed: float | None = None
    last_tick: float = 0.0
    last_transferred: int = 0
    last_published: tuple[int, tuple[str, ...]] | None = None
    last_saved: float = 0.0
    error: dict[str, Any] | None = None
    warning: dict[str, Any] | None = None
    finished_at: float | None = None
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    left: asyncio.Event = field(default_factory=asyncio.Event)  # set once out of memory

    @property
    def bytes_total(self) -> int:
        return sum(f.file.size for f in self.files)

    @property
    def bytes_done(self) -> int:
        return sum(f.bytes_done for f in self.files)

    @property
    def transferred(self) -> int:
        return self.transferred_before + sum(f.transferred for f in self.files)

    def render(self) -> DownloadJob:
        running = self.status in (JobStatus.DOWNLOADING, JobStatus.VERIFYING)
        speed = self.speed if running else None
        remaining = self.bytes_total - self.bytes_done
        eta = remaining / speed if speed and speed > 0 else None
        return DownloadJob(
            id=self.id,
            model_id=self.model_id,
            revision=self.revision,
            commit=self.commit,
            status=self.status,
            format=self.format,
            allow_patterns=list(self.allow_patterns),
            bytes_total=self.bytes_total,
            bytes_done=self.bytes_done,
            bytes_transferred=self.transferred,
            files_total=len(self.files),
            files_done=sum(1 for f in self.files if f.status == FileStatus.COMPLETED),
            speed_bps=speed,
            eta_s=eta,
            error=ErrorBody.model_validate(self.error) if self.error else None,
            warning=ErrorBody.model_validate(self.warning) if self.warning else None,
            created_at=self.created_at,
            updated_at=self.updated_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            files=[
                FileProgress(
                    path=f.file.path,
                    size=f.file.size,
                    bytes_done=f.bytes_done,
                    status=f.status,
                    lfs=f.file.lfs,
                )
                for f in self.files
            ],
        )


def _remote(row: DownloadFileRow) -> RemoteFile:
    return RemoteFile(path=row.path, size=row.size, blob_id=row.blob_id, sha256=row.sha256)


def _warning(row: DownloadJobRow) -> ErrorBody | None:
    note = row.warning_note
    return ErrorBody.model_validate(note.body) if note is not None else None


def render_row(row: DownloadJobRow) -> DownloadJob:
    files = [
        FileProgress(
            path=f.path,
            size=f.size,
            bytes_done=f.bytes_done,
            status=FileStatus(f.status),
            lfs=f.sha256 is not None,
        )
        for f in row.files
    ]
    return DownloadJob(
        id=row.id,
        model_id=row.model_id,
        revision=row.revision,
        commit=row.commit,
        status=JobStatus(row.status),
        format=row.format,
        allow_patterns=list(row.allow_patterns or []),
        bytes_total=row.bytes_total,
        bytes_done=row.bytes_done,
        bytes_transferred=row.bytes_transferred,
        files_total=len(files),
        files_done=sum(1 for f in files if f.status == FileStatus.COMPLETED),
        error=ErrorBody.model_validate(row.error) if row.error else None,
        warning=_warning(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        files=files,
    )


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
        self._queue: deque[str] = deque()
        self._running: set[str] = set()
        self._submit_locks = KeyedLocks()
        self._job_locks = KeyedLocks()
        self._closing = False
        self._ticker: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._engine: DownloadEngine | None = None
        self._planner: HubPlanner | None = None
        self.claims = JobClaims.for_sessions(sessions, lease_s=settings.download_lease_s)
        self._sharing: SharedJobs | None = None

    # ----------------------------------------------------------------------------------------
    # Life cycle

    @property
    def engine(self) -> DownloadEngine:
        assert self._engine is not None, "DownloadManager is not started"
        return self._engine

    @property
    def planner(self) -> HubPlanner:
        assert self._planner is not None, "DownloadManager is not started"
        return self._planner

    async def __aenter__(self) -> DownloadManager:
        s = self.settings
        token = s.hub_token()
        headers = {"User-Agent": "modelyard/0.1", "Accept-Encoding": "identity"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        parallel = s.max_concurrent_downloads * s.max_files_per_download
        self._client = httpx.AsyncClient(
            headers=headers,
            follow_redirects=True,
            timeout=httpx.Timeout(connect=10.0, read=s.stall_timeout_s, write=30.0, pool=None),
            limits=httpx.Limits(max_connections=parallel + 2, max_keepalive_connections=parallel),
        )
        self._engine = DownloadEngine(
            self._client,
            endpoint=s.hub_endpoint,
            metrics=self._metrics,
            retries=s.download_retries,
            backoff_s=s.download_backoff_s,
            backoff_max_s=s.download_backoff_max_s,
            workers=parallel,
        )
        # Planning answers a request: a couple of quick retries, then the 503 envelope.
        self._planner = HubPlanner(
            endpoint=s.hub_endpoint,
            token=token,
            retries=min(s.download_retries, 2),
            backoff_s=s.download_backoff_s,
            backoff_max_s=min(s.download_backoff_max_s, 2.0),
            metrics=self._metrics,
        )
        try:
            await self._recover()
        except DatabaseUnavailableError as exc:
            # Stay up: the jobs are picked up once the database answers again.
            logger.error("download jobs not recovered yet: %s", exc.message)
            self._recovery = asyncio.create_task(self._recover_later(), name="download-recovery")
        self._ticker = asyncio.create_task(self._tick_forever(), name="download-progress")
        self._kick()
        if self.claims.shared:
            self._sharing = SharedJobs(
                self._sessions,
                self.claims,
                self,
                self._render_rows,
                relay_interval_s=s.download_progress_interval_s,
            )
            await self._sharing.__aenter__()
        return self

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
        if self._client is not None:
            await self._client.aclose()
        if self._engine is not None:
            self._engine.close()

    async def _recover(self, limit: int | None = None) -> None:
        """Queue again the jobs a previous process left queued, downloading or verifying
        (with a shared database: those nobody else holds, at most ``limit``)."""
        if limit is None and self.claims.shared:
            limit = self.free_slots()
        query = select(DownloadJobRow).order_by(DownloadJobRow.created_at)
        busy = set(self._live) | self._job_locks.keys()  # not a job being paused here
        query = self.claims.adoptable(query, exclude=busy, limit=limit)
        async with session_scope(self._sessions) as session:
            rows = (await session.scalars(query)).all()
            for row in rows:
                self.claims.take(row)
                if row.status != JobStatus.QUEUED:
                    check_move(JobStatus(row.status), JobStatus.QUEUED)
                    row.status = JobStatus.QUEUED.value
                    row.updated_at = time.time()
        for row in rows:
            live = await self._live_from_row(row)
            self._live[live.id] = live
            self._queue.append(live.id)
            logger.info("continuing download %s of %s", live.id, live.model_id)

    async def _live_from_row(self, row: DownloadJobRow) -> LiveJob:
        assert row.commit is not None
        repo = RepoCache(self.cache_dir, row.model_id)
        files = [_remote(f) for f in row.files]
        on_disk = await asyncio.to_thread(
            lambda: [(repo.bytes_on_disk(f), repo.has_blob(f)) for f in files]
        )
        states = [
            FileState(
                file=f,
                bytes_done=done,
                status=FileStatus.COMPLETED if complete else FileStatus.PENDING,
            )
            for f, (done, complete) in zip(files, on_disk, strict=True)
        ]
        return LiveJob(
            id=row.id,
            model_id=row.model_id,
            revision=row.revision,
            commit=row.commit,
            format=row.format,
            allow_patterns=list(row.allow_patterns or []),
            status=JobStatus.QUEUED,
            files=states,
            created_at=row.created_at,
            updated_at=time.time(),
            started_at=row.started_at,
            transferred_before=row.bytes_transferred,
            warning=row.warning_note.body if row.warning_note is not None else None,
        )

    # ----------------------------------------------------------------------------------------
    # Reading

    async def _row(self, session: AsyncSession, job_id: str) -> DownloadJobRow:
        row = await session.get(DownloadJobRow, job_id)
        if row is None:
            raise NotFoundError(
                f"download job '{job_id}' was not found",
                details={"job_id": job_id},
                resolution_steps=["List the jobs with GET /api/downloads."],
            )
        return row

    async def get(self, job_id: str) -> DownloadJob:
        live = self._live.get(job_id)
        if live is not None:
            return live.render()
        async with session_scope(self._sessions) as session:
            return render_row(await self._row(session, job_id))

    async def list(
        self, *, statuses: Sequence[JobStatus] = (), limit: int = 100, offset: int = 0
    ) -> tuple[list[DownloadJob], int]:
        """Jobs, newest first, with the live progress of the running ones."""
        query = select(DownloadJobRow)
        count = select(func.count()).select_from(DownloadJobRow)
        if statuses:
            values = [s.value for s in statuses]
            query = query.where(DownloadJobRow.status.in_(values))
            count = count.where(DownloadJobRow.status.in_(values))
        query = query.order_by(DownloadJobRow.created_at.desc()).limit(limit).offset(offset)
        async with session_scope(self._sessions) as session:
            rows = (await session.scalars(query)).all()
            total = int((await session.scalar(count)) or 0)
            jobs = [render_row(row) for row in rows]
        return [self._overlay(job) for job in jobs], total

    def _overlay(self, job: DownloadJob) -> DownloadJob:
        live = self._live.get(job.id)
        return live.render() if live is not None else job

    async def snapshot(self, job_id: str | None) -> SnapshotEvent:
        """The state an event stream starts from: one job, or every active job."""
        if job_id is not None:
            return SnapshotEvent(jobs=[await self.get(job_id)])
        jobs, _ = await self.list(statuses=sorted(ACTIVE_STATUSES), limit=10_000)
        return SnapshotEvent(jobs=jobs)

    # ----------------------------------------------------------------------------------------
    # Starting

    async def submit(
        self, request: DownloadRequest, *, warning: ErrorBody | None = None
    ) -> tuple[DownloadJob, bool]:
        """Start a download, or return the job doing it; True when the model is complete.
        ``warning``: recorded on a new job (a model forced past its compatibility verdict)."""
        parse_hub_id(request.model_id)
        async with self._submit_locks.hold((request.model_id, request.revision)):
            existing = await self._find_active(request.model_id, revision=request.revision)
            if existing is not None:
                return existing, False
            plan = await self.planner.plan(
                request.model_id, request.revision, request.allow_patterns, request.format
            )
            existing = await self._find_active(request.model_id, commit=plan.commit)
            if existing is not None:
                return existing, False
            repo = RepoCache(self.cache_dir, plan.model_id)
            if await asyncio.to_thread(repo.is_complete, plan.commit, plan.files):
                await asyncio.to_thread(repo.write_ref, plan.revision, plan.commit)
                return await self._completed(plan, warning), True
            await self._preflight(plan.model_id, plan.files, exclude=None)
            try:
                live = await self._create(plan, warning)
            except WriteConflictError:
                # Another manager (or a request for another name of this revision) created
                # the job for this commit a moment ago: that is the job.
                existing = await self._find_active(request.model_id, commit=plan.commit)
                if existing is None:
                    raise
                return existing, False
        self.events.publish(live.id, JobEvent(type="status", job=live.render()))
        self._kick()
        return live.render(), False

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
        query = select(DownloadJobRow).where(
            DownloadJobRow.model_id == model_id,
            DownloadJobRow.status.in_([s.value for s in ACTIVE_STATUSES]),
        )
        if revision is not None:
            query = query.where(DownloadJobRow.revision == revision)
        if commit is not None:
            query = query.where(DownloadJobRow.commit == commit)
        async with session_scope(self._sessions) as session:
            row = (await session.scalars(query.limit(1))).first()
            return self._overlay(render_row(row)) if row is not None else None

    async def _completed(self, plan: DownloadPlan, warning: ErrorBody | None) -> DownloadJob:
        """The finished job for a model already in the cache: the last one, or a new record."""
        paths = sorted(f.path for f in plan.files)
        async with session_scope(self._sessions) as session:
            rows = (
                await session.scalars(
                    select(DownloadJobRow)
                    .where(
                        DownloadJobRow.model_id == plan.model_id,
                        DownloadJobRow.commit == plan.commit,
                        DownloadJobRow.status == JobStatus.COMPLETED.value,
                    )
                    .order_by(DownloadJobRow.created_at.desc())
                    .limit(5)
                )
            ).all()
            for row in rows:
                if sorted(f.path for f in row.files) == paths:
                    return render_row(row)
            now = time.time()
            row = self._new_row(plan, JobStatus.COMPLETED, now, warning)
            row.bytes_done = plan.total_bytes
            row.started_at = row.finished_at = now
            for file_row in row.files:
                file_row.bytes_done = file_row.size
                file_row.status = FileStatus.COMPLETED.value
            session.add(row)
            await session.flush()
            job = render_row(row)
        await self._prune_history()
        return job

    def _new_row(
        self, plan: DownloadPlan, status: JobStatus, now: float, warning: ErrorBody | None
    ) -> DownloadJobRow:
        note = DownloadWarningRow(body=warning.model_dump()) if warning is not None else None
        return DownloadJobRow(
            id=str(uuid.uuid4()),
            model_id=plan.model_id,
            revision=plan.revision,
            commit=plan.commit,
            status=status.value,
            format=plan.format,
            allow_patterns=list(plan.allow_patterns),
            bytes_total=plan.total_bytes,
            bytes_done=0,
            bytes_transferred=0,
            created_at=now,
            updated_at=now,
            warning_note=note,
            files=[
                DownloadFileRow(
                    path=f.path,
                    size=f.size,
                    blob_id=f.blob_id,
                    sha256=f.sha256,
                    bytes_done=0,
                    status=FileStatus.PENDING.value,
                )
                for f in plan.files
            ],
        )

    async def _create(self, plan: DownloadPlan, warning: ErrorBody | None) -> LiveJob:
        now = time.time()
        row = self._new_row(plan, JobStatus.QUEUED, now, warning)
        async with session_scope(self._sessions) as session:
            session.add(row)
        live = await self._live_from_row(row)
        live.updated_at = now
        self._live[live.id] = live
        self._queue.append(live.id)
        return live

    async def _preflight(
        self, model_id: str, files: Sequence[RemoteFile], *, exclude: str | None
    ) -> None:
        """Refuse (507) when the bytes still needed, plus the other active jobs' and the
        reserve, do not fit in the free space of the cache's disk."""
        repo = RepoCache(self.cache_dir, model_id)
        needed = await asyncio.to_thread(lambda: sum(f.size - repo.bytes_on_disk(f) for f in files))
        others = sum(
            live.bytes_total - live.bytes_done for live in self._live.values() if live.id != exclude
        )
        reserve = int(self.settings.disk_reserve_gb * GB)
        required = needed + others + reserve
        available = (await asyncio.to_thread(self.disk_usage, self.cache_dir)).free
        if available >= required:
            return
        raise InsufficientStorageError(
            f"not enough disk space for '{model_id}': {_human(required)} needed "
            f"({_human(needed)} to download, {_human(others)} for other downloads, "
            f"{_human(reserve)} reserve), {_human(available)} free",
            details={
                "required_space": required,
                "available_space": available,
                "model_id": model_id,
                "download_bytes": needed,
                "other_downloads_bytes": others,
                "reserve_bytes": reserve,
                "cache_dir": str(self.cache_dir),
            },
            resolution_steps=[
                "Free disk space: delete unused models (DELETE /api/models/local/{model_id}) "
                "or clean up partial files (POST /api/storage/cleanup).",
                "Download fewer files (allow_patterns) or a smaller quantization.",
                "Lower MODEL_MANAGER_DISK_RESERVE_GB, or point MODEL_MANAGER_HF_CACHE_DIR at a "
                "larger disk.",
            ],
        )

    # ----------------------------------------------------------------------------------------
    # Running

    def _update_gauges(self) -> None:
        self._metrics.downloads_active.set(len(self._running))
        self._metrics.downloads_queued.set(len(self._queue))

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
        repo = RepoCache(self.cache_dir, live.model_id)
        try:
            if not await self.claims.claim(live.id):
                await self._forget(live)  # another manager runs it
                return
            await self._preflight(live.model_id, [f.file for f in live.files], exclude=live.id)
            live.started_at = live.started_at or time.time()
            await self._move(live, JobStatus.DOWNLOADING)
            limit = asyncio.Semaphore(self.settings.max_files_per_download)

            async def fetch(state: FileState) -> None:
                async with limit:
                    await self.engine.fetch(repo, live.commit, state)

            todo = [f for f in live.files if f.status != FileStatus.COMPLETED]
            async with asyncio.TaskGroup() as group:
                for state in sorted(todo, key=lambda f: -f.file.size):
                    group.create_task(fetch(state))
            await self._move(live, JobStatus.VERIFYING)
            await asyncio.to_thread(self._link, repo, live)
        except asyncio.CancelledError:
            # Pause, cancel or shutdown: the caller decides what becomes of the job.
            raise
        except Exception as exc:
            error = _first_error(exc)
            for state in live.files:
                if state.status in (FileStatus.DOWNLOADING, FileStatus.VERIFYING):
                    state.status = FileStatus.PENDING
            logger.warning("download %s of %s failed: %s", live.id, live.model_id, error)
            await self._end(live, JobStatus.FAILED, error=_error_body(error))
        else:
            await self._end(live, JobStatus.COMPLETED)
        finally:
            self._running.discard(live.id)

    def _link(self, repo: RepoCache, live: LiveJob) -> None:
        """Link every verified blob into ``snapshots/<commit>/`` and write the ref, all or
        nothing (``RepoCache.link_snapshot``): a job that fails here leaves no model listed."""
        for state in live.files:
            if not repo.has_blob(state.file):
                raise HubResponseError(
                    f"'{state.file.path}' disappeared from the cache before it was linked",
                    details={"model_id": live.model_id, "path": state.file.path},
                    resolution_steps=["Resume the download."],
                )
        try:
            repo.link_snapshot(live.commit, [state.file for state in live.files], live.revision)
        except OSError as exc:
            raise _link_error(exc, live) from exc

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
            values: dict[str, Any] = {
                "bytes_done": live.bytes_done,
                "bytes_transferred": live.transferred,
                "updated_at": live.updated_at,
            }
            if not progress_only:
                values.update(
                    status=live.status.value,
                    started_at=live.started_at,
                    error=error,
                    finished_at=finished_at,
                )
            files = [
                {
                    "job_id": live.id,
                    "path": f.file.path,
                    "bytes_done": f.bytes_done,
                    "status": f.status.value,
                }
                for f in live.files
            ]
            async with session_scope(self._sessions) as session:
                await session.execute(
                    update(DownloadJobRow).where(DownloadJobRow.id == live.id).values(**values)
                )
                if files:
                    await session.execute(update(DownloadFileRow), files)
            live.last_saved = time.monotonic()

    async def _prune_history(self) -> None:
        keep = self.settings.download_history_max
        finished = [JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value]
        async with session_scope(self._sessions) as session:
            old = (
                await session.scalars(
                    select(DownloadJobRow.id)
                    .where(DownloadJobRow.status.in_(finished))
                    .order_by(DownloadJobRow.created_at.desc())
                    .offset(keep)
                )
            ).all()
            if old:
                await session.execute(delete(DownloadJobRow).where(DownloadJobRow.id.in_(old)))

    # ----------------------------------------------------------------------------------------
    # Progress

    async def _tick_forever(self) -> None:
        interval = self.settings.download_progress_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self._tick()
            except ManagerError as exc:
                logger.warning("saving download progress failed: %s", exc.message)
            except Exception:
                logger.exception("download progress tick failed")

    async def _tick(self) -> None:
        now = time.monotonic()
        for job_id in list(self._running):
            live = self._live.get(job_id)
            if live is None or live.status not in (JobStatus.DOWNLOADING, JobStatus.VERIFYING):
                continue
            transferred = live.transferred
            if live.last_tick:
                elapsed = max(now - live.last_tick, 1e-6)
                rate = (transferred - live.last_transferred) / elapsed
                live.speed = (
                    rate
                    if live.speed is None
                    else SPEED_SMOOTHING * rate + (1 - SPEED_SMOOTHING) * live.speed
                )
            live.last_tick = now
            live.last_transferred = transferred
            state = (live.bytes_done, tuple(f.status.value for f in live.files))
            if state != live.last_published:
                live.last_published = state
                live.updated_at = time.time()
                self.events.publish(live.id, JobEvent(type="progress", job=live.render()))
                # Other managers read the row for their clients: keep it as fresh as events.
                save_every = 0.0 if self.claims.shared else SAVE_INTERVAL_S
                if now - live.last_saved >= save_every:
                    await self._save(live, progress_only=True)

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
        for state in live.files:
            if state.status in (FileStatus.DOWNLOADING, FileStatus.VERIFYING):
                state.status = FileStatus.PENDING

    async def pause(self, job_id: str) -> DownloadJob:
        async with self._job_locks.hold(job_id):
            live = self._live.get(job_id)
            if live is None:
                job = await self.get(job_id)
                if plan_action(job.status, Action.PAUSE) is not None:
                    return await self._pause_elsewhere(job)
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
                row = await self._row(session, job_id)
                if plan_action(JobStatus(row.status), Action.RESUME) is None:
                    return render_row(row)
            live = await self._live_from_row(row)
            await self._preflight(live.model_id, [f.file for f in live.files], exclude=None)
            self._live[live.id] = live
            self._queue.append(live.id)
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
                await self._discard_files(live.model_id, live.files, job_id)
                return await self._end(live, JobStatus.CANCELLED)
            current = await self.get(job_id)
            if current.status.value in RUNNABLE:  # another manager runs it: paused, cancelled
                current = await self._pause_elsewhere(current, publish=False)
                if current.status != JobStatus.PAUSED:
                    return current  # it finished meanwhile
            async with session_scope(self._sessions) as session:
                row = await self._row(session, job_id)
                status = JobStatus(row.status)
                files = [FileState(file=_remote(f)) for f in row.files]
                if status == JobStatus.PAUSED:
                    check_move(status, JobStatus.CANCELLED)
                    now = time.time()
                    row.status = JobStatus.CANCELLED.value
                    row.updated_at = row.finished_at = now
                    for file_row in row.files:
                        file_row.bytes_done = 0
                        file_row.status = FileStatus.PENDING.value
                    row.bytes_done = 0
                    job: DownloadJob | None = render_row(row)
                else:
                    await session.delete(row)
                    job = None
            if status == JobStatus.PAUSED:
                await self._discard_files(row.model_id, files, job_id)
                assert job is not None
                self._metrics.downloads_finished.labels(JobStatus.CANCELLED.value).inc()
                self.events.publish(job_id, JobEvent(type="status", job=job))
                return job
            if status == JobStatus.FAILED:
                await self._discard_files(row.model_id, files, job_id)
            self.events.publish(job_id, JobDeletedEvent(job_id=job_id))
            return None

    async def _discard_files(self, model_id: str, files: Sequence[FileState], job_id: str) -> None:
        """Remove a stopped job's partials and its blobs that no snapshot links to (fetched
        but never linked), except those another active job still needs."""
        needed = {
            state.file.etag
            for live in self._live.values()
            if live.id != job_id and live.model_id == model_id
            for state in live.files
        }
        repo = RepoCache(self.cache_dir, model_id)

        def discard() -> None:
            linked = repo.referenced_blobs()
            for state in files:
                if state.file.etag in needed:
                    continue
                repo.remove_partial(state.file)
                if state.file.etag not in linked:
                    repo.remove_blob(state.file)
            repo.prune_empty()

        await asyncio.to_thread(discard)
        for state in files:
            if state.file.etag not in needed:
                state.bytes_done = 0
                state.status = FileStatus.PENDING

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

    async def _render_rows(self, job_ids: Sequence[str]) -> Sequence[DownloadJob]:
        async with session_scope(self._sessions) as session:
            rows = (
                await session.scalars(select(DownloadJobRow).where(DownloadJobRow.id.in_(job_ids)))
            ).all()
            return tuple(render_row(row) for row in rows)

    async def _pause_row(self, job: DownloadJob) -> bool:
        """Set the row to paused if it is still in the status ``job`` has."""
        check_move(job.status, JobStatus.PAUSED)
        async with session_scope(self._sessions) as session:
            changed = await session.execute(
                update(DownloadJobRow)
                .where(DownloadJobRow.id == job.id, DownloadJobRow.status == job.status.value)
                .values(status=JobStatus.PAUSED.value, updated_at=time.time())
            )
            if not changed.rowcount:  # type: ignore[attr-defined]
                return False
            await session.execute(
                update(DownloadFileRow)
                .where(
                    DownloadFileRow.job_id == job.id,
                    DownloadFileRow.status != FileStatus.COMPLETED.value,
                )
                .values(status=FileStatus.PENDING.value)
            )
        return True

    async def _pause_elsewhere(self, job: DownloadJob, *, publish: bool = True) -> DownloadJob:
        """Pause a job this manager does not run: change its row, then wait until its holder
        has stopped it (it sees the change when it renews its lease) or its lease ran out."""
        while not await self._pause_row(job):
            job = await self.get(job.id)  # it moved on meanwhile (queued → downloading → ...)
            if job.status.value not in RUNNABLE:
                return job
        deadline = time.monotonic() + self.claims.lease_s + self.claims.renew_interval_s
        while time.monotonic() < deadline:
            holder, expires = await self.claims.holder_of(job.id)
            if holder is None or (expires is not None and expires < time.time()):
                break
            await asyncio.sleep(0.05)
        stopped = await self.get(job.id)
        if publish:
            self.events.publish(job.id, JobEvent(type="status", job=stopped))
        return stopped
