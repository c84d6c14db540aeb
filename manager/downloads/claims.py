"""Download jobs shared by several managers on one database: who runs a job, and for how long.

A job is run by the manager holding its lease (``lease_holder``, ``lease_expires_at`` on the
job's row). Every change of holder is a compare-and-set ``UPDATE`` of that row, so two
managers never both hold one job:

- **claim**: before a job starts, its manager takes the lease; it fails when another live
  manager holds it (the job is then left to that one).
- **renew**: while the job runs, its holder extends the lease (every ``renew_interval_s``).
  A renewal that finds the job no longer runnable (another manager paused or cancelled it)
  or no longer held reports it lost, and the holder stops it without writing its row. A
  holder that cannot reach the database stops its jobs before its leases run out, so a job
  is never run twice while the database is away.
- **adopt**: jobs whose holder died (lease expired) or that nobody holds yet are taken over
  by a manager with a free slot: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
  managers adopting at once take different rows and never wait for each other. The new holder
  resumes from the partial files on the shared volume.
- **release**: a job that ends, pauses, or is left at shutdown gives its lease back.

``shared`` is true on PostgreSQL. SQLite serves one manager (its file is not meant to be
shared between hosts): there a claim ignores other holders, since the only other holder can
be this manager's previous process, and no background work runs.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads.schemas import JobStatus
from manager.downloads.tables import DownloadJobRow

# Statuses a manager runs (a paused job is nobody's until it is resumed).
RUNNABLE = (JobStatus.QUEUED.value, JobStatus.DOWNLOADING.value, JobStatus.VERIFYING.value)


def make_holder_id() -> str:
    """``host-pid-random``: unique per process, readable in the jobs table."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class JobClaims:
    """The leases of one manager process (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_s: float,
        shared: bool,
        holder: str | None = None,
    ) -> None:
        self._sessions = sessions
        self.lease_s = lease_s
        self.shared = shared
        self.holder = holder or make_holder_id()
        self.held: set[str] = set()
        self.last_renewed = time.monotonic()

    @classmethod
    def for_sessions(
        cls, sessions: async_sessionmaker[AsyncSession], *, lease_s: float
    ) -> JobClaims:
        bind = sessions.kw.get("bind")
        dialect = getattr(getattr(bind, "dialect", None), "name", "sqlite")
        return cls(sessions, lease_s=lease_s, shared=dialect != "sqlite")

    @property
    def renew_interval_s(self) -> float:
        """Often enough that a pause or cancel made through another manager stops the job
        within about a second, and a lease survives two failed renewals."""
        return min(self.lease_s / 3, 1.0)

    def _claimable(self, now: float) -> object:
        """Rows this manager may take: runnable and held by nobody, by itself, or by a
        manager whose lease ran out. Without sharing, any runnable row."""
        runnable = DownloadJobRow.status.in_(RUNNABLE)
        if not self.shared:
            return runnable
        return runnable & or_(
            DownloadJobRow.lease_holder.is_(None),
            DownloadJobRow.lease_holder == self.holder,
            DownloadJobRow.lease_expires_at < now,
        )

    def _lease(self, now: float) -> dict[str, object]:
        return {"lease_holder": self.holder, "lease_expires_at": now + self.lease_s}

    async def claim(self, job_id: str) -> bool:
        """Take the job's lease; False when another live manager holds it, or when it is no
        longer runnable."""
        now = time.time()
        async with session_scope(self._sessions) as session:
            result = await session.execute(
                update(DownloadJobRow)
                .where(DownloadJobRow.id == job_id, self._claimable(now))  # type: ignore[arg-type]
                .values(**self._lease(now))
            )
        taken = bool(result.rowcount)  # type: ignore[attr-defined]
        if taken:
            self.held.add(job_id)
        return taken

    def adoptable(
        self, query: Select[DownloadJobRow], *, exclude: Collection[str], limit: int | None
    ) -> Select[DownloadJobRow]:
        """``query`` (interrupted jobs, oldest first) narrowed to the rows this manager may
        adopt, locked so that managers adopting at once take different rows."""
        now = time.time()
        query = query.where(self._claimable(now))  # type: ignore[arg-type]
        if exclude:
            query = query.where(DownloadJobRow.id.not_in(list(exclude)))
        if limit is not None:
            query = query.limit(limit)
        if self.shared:
            query = query.with_for_update(skip_locked=True, of=DownloadJobRow)
        return query

    def take(self, row: DownloadJobRow) -> None:
        """Record the lease on an adopted row (inside the transaction that locked it)."""
        for name, value in self._lease(time.time()).items():
            setattr(row, name, value)
        self.held.add(row.id)

    async def renew(self) -> set[str]:
        """Extend the leases held; return the jobs lost (paused or cancelled elsewhere,
        finished, or taken over)."""
        held = set(self.held)
        if not held:
            self.last_renewed = time.monotonic()
            return set()
        now = time.time()
        async with session_scope(self._sessions) as session:
            kept = set(
                (
                    await session.scalars(
                        update(DownloadJobRow)
                        .where(
                            DownloadJobRow.id.in_(sorted(held)),
                            DownloadJobRow.lease_holder == self.holder,
                            DownloadJobRow.status.in_(RUNNABLE),
                        )
                        .values(lease_expires_at=now + self.lease_s)
                        .returning(DownloadJobRow.id)
                    )
                ).all()
            )
        self.last_renewed = time.monotonic()
        lost = (held - kept) & self.held  # a job released meanwhile is not lost
        self.held -= lost
        return lost

    def overdue(self) -> bool:
        """Renewals have failed for two thirds of a lease: stop before another manager may
        take the jobs over."""
        return bool(self.held) and time.monotonic() - self.last_renewed > self.lease_s * 2 / 3

    async def release(self, job_ids: Sequence[str]) -> None:
        """Give leases back (the jobs ended, paused, or this manager is stopping)."""
        ids = [job_id for job_id in job_ids if job_id in self.held]
        self.held.difference_update(ids)
        if not ids:
            return
        async with session_scope(self._sessions) as session:
            await session.execute(
                update(DownloadJobRow)
                .where(DownloadJobRow.id.in_(ids), DownloadJobRow.lease_holder == self.holder)
                .values(lease_holder=None, lease_expires_at=None)
            )

    async def holder_of(self, job_id: str) -> tuple[str | None, float | None]:
        async with session_scope(self._sessions) as session:
            row = (
                await session.execute(
                    select(DownloadJobRow.lease_holder, DownloadJobRow.lease_expires_at).where(
                        DownloadJobRow.id == job_id
                    )
                )
            ).first()
        return (row[0], row[1]) if row is not None else (None, None)
