"""Reading download jobs: those in this manager's memory as they are now, the rest as their
rows tell it. One answer shape (``LiveJob.render``) whichever the source."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.downloads import queries
from manager.downloads.live import LiveJob, render_row
from manager.downloads.schemas import ACTIVE_STATUSES, DownloadJob, JobStatus
from manager.downloads.tables import DownloadJobRow


class JobViews:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], live: Mapping[str, LiveJob]
    ) -> None:
        self._sessions = sessions
        self._live = live

    def render(self, row: DownloadJobRow) -> DownloadJob:
        """The job of ``row``, with its live progress when it runs here."""
        live = self._live.get(row.id)
        return live.render() if live is not None else render_row(row)

    async def get(self, job_id: str) -> DownloadJob:
        live = self._live.get(job_id)
        if live is not None:
            return live.render()
        async with session_scope(self._sessions) as session:
            return render_row(await queries.job_row(session, job_id))

    async def page(
        self, *, statuses: Sequence[JobStatus] = (), limit: int = 100, offset: int = 0
    ) -> tuple[list[DownloadJob], int]:
        """Jobs, newest first, and how many match in all."""
        async with session_scope(self._sessions) as session:
            rows, total = await queries.job_rows(
                session, statuses=statuses, limit=limit, offset=offset
            )
            return [self.render(row) for row in rows], total

    async def active(self) -> list[DownloadJob]:
        """Every job that is queued, running, paused or verifying."""
        jobs, _total = await self.page(statuses=sorted(ACTIVE_STATUSES), limit=10_000)
        return jobs

    async def active_row_job(
        self, model_id: str, *, revision: str | None, commit: str | None
    ) -> DownloadJob | None:
        """The active job of the model at that revision (or commit), as the database has it."""
        async with session_scope(self._sessions) as session:
            row = await queries.active_row(session, model_id, revision=revision, commit=commit)
            return self.render(row) if row is not None else None

    async def pause_row(self, job: DownloadJob) -> bool:
        """Set the job's row paused if it is still in the status ``job`` has."""
        async with session_scope(self._sessions) as session:
            return await queries.pause_row(session, job.id, job.status, time.time())

    async def by_id(self, job_ids: Sequence[str]) -> Sequence[DownloadJob]:
        async with session_scope(self._sessions) as session:
            return tuple(render_row(row) for row in await queries.rows_by_id(session, job_ids))
