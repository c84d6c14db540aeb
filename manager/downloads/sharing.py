"""The background work of a manager that shares its database with other managers.

Started by the download service when its database is shared (``JobClaims.shared``):

- **leases** (every ``renew_interval_s``): renew the leases held, stop the jobs whose lease
  was lost (paused or cancelled through another manager, or taken over), stop every job when
  the database has not answered for most of a lease, and adopt runnable jobs that nobody
  holds (a holder died, or a job waits for a free slot) while slots are free.
- **progress relay** (every ``download_progress_interval_s``): read the active jobs' rows and
  publish, on this manager's event bus, the changes of jobs that other managers run, so a
  client following a job's events through any manager sees its progress and its end.

Why polling the rows rather than PostgreSQL ``LISTEN/NOTIFY``: the rows must be written at
that interval anyway for a reader of ``GET /api/downloads/{id}`` on another manager, so one
indexed ``SELECT`` per manager per interval adds little. A notification saves at most one
interval of delay, and needs a connection per manager outside the pool, reconnect handling,
and a payload limit (8,000 bytes) that a job with many files exceeds. ``bench/scale.py``
reports the measured delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads.claims import RUNNABLE, JobClaims
from manager.downloads.events import EventBus
from manager.downloads.schemas import (
    ACTIVE_STATUSES,
    DownloadJob,
    JobDeletedEvent,
    JobEvent,
    JobStatus,
)
from manager.downloads.states import check_move
from manager.downloads.tables import DownloadJobRow
from manager.downloads.views import JobViews
from manager.errors import ManagerError

logger = logging.getLogger(__name__)

ACTIVE = sorted(s.value for s in ACTIVE_STATUSES)
Fingerprint = tuple[str, int, float]


class SharingHost(Protocol):
    """What the download service lets the background work see and do."""

    events: EventBus

    def free_slots(self) -> int: ...

    def live_ids(self) -> set[str]:
        """Jobs in this manager's memory."""
        ...

    def waiting_ids(self) -> set[str]:
        """Jobs in memory that wait for a slot (not started, no lease yet)."""
        ...

    async def adopt(self, limit: int) -> None:
        """Take over up to ``limit`` runnable jobs nobody holds, and start them."""
        ...

    async def drop(self, job_id: str) -> None:
        """Stop a job here without writing its row (another manager decides its fate)."""
        ...


RenderRows = Callable[[Sequence[str]], Awaitable[Sequence[DownloadJob]]]


class ProgressRelay:
    """Publish the changes of jobs run by other managers (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        claims: JobClaims,
        host: SharingHost,
        render: RenderRows,
    ) -> None:
        self._sessions = sessions
        self._claims = claims
        self._host = host
        self._render = render
        self._seen: dict[str, Fingerprint] | None = None

    async def poll(self) -> None:
        live = self._host.live_ids()
        watched = set(self._seen or {})
        query = select(
            DownloadJobRow.id,
            DownloadJobRow.status,
            DownloadJobRow.bytes_done,
            DownloadJobRow.updated_at,
            DownloadJobRow.lease_holder,
        ).where(
            or_(DownloadJobRow.status.in_(ACTIVE), DownloadJobRow.id.in_(sorted(watched)))
            if watched
            else DownloadJobRow.status.in_(ACTIVE)
        )
        async with session_scope(self._sessions) as session:
            rows = (await session.execute(query)).all()
        waiting = self._host.waiting_ids()
        seen: dict[str, Fingerprint] = {}
        changed: list[str] = []
        status_changed: set[str] = set()
        for job_id, status, done, updated, holder in rows:
            if job_id in live:
                if job_id in waiting and holder not in (None, self._claims.holder):
                    await self._host.drop(job_id)  # another manager started it first
                continue
            fingerprint = (status, done, updated)
            if status in ACTIVE:
                seen[job_id] = fingerprint
            before = (self._seen or {}).get(job_id)
            if before != fingerprint:
                changed.append(job_id)
                if before is None or before[0] != status:
                    status_changed.add(job_id)
        first = self._seen is None
        gone = watched - {row[0] for row in rows} - live
        self._seen = seen
        if first:
            return  # the state at start-up: subscribers get it from their snapshot
        if changed:
            for job in await self._render(changed):
                kind = "status" if job.id in status_changed else "progress"
                self._host.events.publish(job.id, JobEvent(type=kind, job=job))
        for job_id in sorted(gone):
            self._host.events.publish(job_id, JobDeletedEvent(job_id=job_id))


class SharedJobs:
    """The two loops of a manager on a shared database; an async context manager."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        claims: JobClaims,
        host: SharingHost,
        render: RenderRows,
        *,
        relay_interval_s: float,
    ) -> None:
        self._claims = claims
        self._host = host
        self._relay = ProgressRelay(sessions, claims, host, render)
        self._relay_interval_s = relay_interval_s
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> SharedJobs:
        self._tasks = [
            asyncio.create_task(self._leases_forever(), name="download-leases"),
            asyncio.create_task(self._relay_forever(), name="download-relay"),
        ]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def leases_once(self) -> None:
        try:
            lost = await self._claims.renew()
        except ManagerError as exc:
            if self._claims.overdue():
                logger.error("leases not renewed (%s): stopping this manager's jobs", exc.message)
                for job_id in sorted(self._claims.held):
                    await self._host.drop(job_id)
            return
        for job_id in sorted(lost):
            logger.info("download %s continues elsewhere (lease lost)", job_id)
            await self._host.drop(job_id)
        free = self._host.free_slots()
        if free > 0:
            await self._host.adopt(free)

    async def _leases_forever(self) -> None:
        while True:
            await asyncio.sleep(self._claims.renew_interval_s)
            try:
                await self.leases_once()
            except ManagerError as exc:
                logger.warning("adopting download jobs failed: %s", exc.message)
            except Exception:
                logger.exception("download lease round failed")

    async def _relay_forever(self) -> None:
        while True:
            await asyncio.sleep(self._relay_interval_s)
            try:
                await self._relay.poll()
            except ManagerError as exc:
                logger.warning("reading other managers' download progress failed: %s", exc.message)
            except Exception:
                logger.exception("download progress relay failed")


async def pause_elsewhere(
    job: DownloadJob,
    views: JobViews,
    claims: JobClaims,
    events: EventBus,
    *,
    publish: bool = True,
) -> DownloadJob:
    """Pause a job this manager does not run: change its row, then wait until its holder
    has stopped it (it sees the change when it renews its lease) or its lease ran out."""
    while True:
        check_move(job.status, JobStatus.PAUSED)
        if await views.pause_row(job):
            break
        job = await views.get(job.id)  # it moved on meanwhile (queued → downloading → ...)
        if job.status.value not in RUNNABLE:
            return job
    deadline = time.monotonic() + claims.lease_s + claims.renew_interval_s
    while time.monotonic() < deadline:
        holder, expires = await claims.holder_of(job.id)
        if holder is None or (expires is not None and expires < time.time()):
            break
        await asyncio.sleep(0.05)
    stopped = await views.get(job.id)
    if publish:
        events.publish(job.id, JobEvent(type="status", job=stopped))
    return stopped
