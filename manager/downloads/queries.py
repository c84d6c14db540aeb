"""Download job reads and writes (SQLAlchemy), for the job manager. No state of its own.

Every function takes the session its caller opened (``session_scope``), so a caller that
reads and writes in one transaction keeps doing so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from manager.downloads.plan import DownloadPlan
from manager.downloads.schemas import ACTIVE_STATUSES, FileStatus, JobStatus
from manager.downloads.tables import DownloadFileRow, DownloadJobRow, DownloadWarningRow
from manager.errors import NotFoundError
from shared_schemas.errors import ErrorBody

FINISHED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


async def job_row(session: AsyncSession, job_id: str) -> DownloadJobRow:
    """The job's row; 404 when there is none."""
    row = await session.get(DownloadJobRow, job_id)
    if row is None:
        raise NotFoundError(
            f"download job '{job_id}' was not found",
            details={"job_id": job_id},
            resolution_steps=["List the jobs with GET /api/downloads."],
        )
    return row


async def job_rows(
    session: AsyncSession, *, statuses: Sequence[JobStatus], limit: int, offset: int
) -> tuple[Sequence[DownloadJobRow], int]:
    """One page of jobs, newest first, and how many there are in all."""
    query = select(DownloadJobRow)
    count = select(func.count()).select_from(DownloadJobRow)
    if statuses:
        values = [s.value for s in statuses]
        query = query.where(DownloadJobRow.status.in_(values))
        count = count.where(DownloadJobRow.status.in_(values))
    query = query.order_by(DownloadJobRow.created_at.desc()).limit(limit).offset(offset)
    rows = (await session.scalars(query)).all()
    return rows, int((await session.scalar(count)) or 0)


async def rows_by_id(session: AsyncSession, job_ids: Sequence[str]) -> Sequence[DownloadJobRow]:
    return (
        await session.scalars(select(DownloadJobRow).where(DownloadJobRow.id.in_(job_ids)))
    ).all()


def oldest_first() -> Select[DownloadJobRow]:
    """Every job, oldest first (the claims narrow it to those a manager may continue)."""
    query: Select[DownloadJobRow] = select(DownloadJobRow).order_by(DownloadJobRow.created_at)
    return query


async def active_row(
    session: AsyncSession, model_id: str, *, revision: str | None, commit: str | None
) -> DownloadJobRow | None:
    """An active job of the model at that revision (or commit)."""
    query = select(DownloadJobRow).where(
        DownloadJobRow.model_id == model_id,
        DownloadJobRow.status.in_([s.value for s in ACTIVE_STATUSES]),
    )
    if revision is not None:
        query = query.where(DownloadJobRow.revision == revision)
    if commit is not None:
        query = query.where(DownloadJobRow.commit == commit)
    return (await session.scalars(query.limit(1))).first()


async def completed_rows(
    session: AsyncSession, model_id: str, commit: str, *, limit: int = 5
) -> Sequence[DownloadJobRow]:
    """The last completed jobs of the model at that commit, newest first."""
    return (
        await session.scalars(
            select(DownloadJobRow)
            .where(
                DownloadJobRow.model_id == model_id,
                DownloadJobRow.commit == commit,
                DownloadJobRow.status == JobStatus.COMPLETED.value,
            )
            .order_by(DownloadJobRow.created_at.desc())
            .limit(limit)
        )
    ).all()


def new_row(
    job_id: str, plan: DownloadPlan, status: JobStatus, now: float, warning: ErrorBody | None
) -> DownloadJobRow:
    """A job's rows for ``plan``, nothing transferred yet."""
    note = DownloadWarningRow(body=warning.model_dump()) if warning is not None else None
    return DownloadJobRow(
        id=job_id,
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


async def completed_job(
    session: AsyncSession, plan: DownloadPlan, warning: ErrorBody | None
) -> tuple[DownloadJobRow, bool]:
    """The finished job of a model already in the cache, the last one that fetched the same
    files, or a new record of it (True)."""
    paths = sorted(f.path for f in plan.files)
    for row in await completed_rows(session, plan.model_id, plan.commit):
        if sorted(f.path for f in row.files) == paths:
            return row, False
    now = time.time()
    row = new_row(str(uuid.uuid4()), plan, JobStatus.COMPLETED, now, warning)
    row.bytes_done = row.bytes_total
    row.started_at = row.finished_at = now
    for file_row in row.files:
        file_row.bytes_done = file_row.size
        file_row.status = FileStatus.COMPLETED.value
    session.add(row)
    await session.flush()
    return row, True


def mark_cancelled(row: DownloadJobRow, now: float) -> None:
    """A paused job, cancelled: its files are gone."""
    row.status = JobStatus.CANCELLED.value
    row.updated_at = row.finished_at = now
    for file_row in row.files:
        file_row.bytes_done = 0
        file_row.status = FileStatus.PENDING.value
    row.bytes_done = 0


async def update_job(
    session: AsyncSession, job_id: str, values: dict[str, Any], files: list[dict[str, Any]]
) -> None:
    """Write a job's columns and its files' (``files``: ``job_id``, ``path`` and the values)."""
    await session.execute(
        update(DownloadJobRow).where(DownloadJobRow.id == job_id).values(**values)
    )
    if files:
        await session.execute(update(DownloadFileRow), files)


async def pause_row(session: AsyncSession, job_id: str, status: JobStatus, now: float) -> bool:
    """Set the job paused if it is still in ``status``; False when it moved on."""
    changed = await session.execute(
        update(DownloadJobRow)
        .where(DownloadJobRow.id == job_id, DownloadJobRow.status == status.value)
        .values(status=JobStatus.PAUSED.value, updated_at=now)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(DownloadFileRow)
        .where(
            DownloadFileRow.job_id == job_id,
            DownloadFileRow.status != FileStatus.COMPLETED.value,
        )
        .values(status=FileStatus.PENDING.value)
    )
    return True


async def prune_history(session: AsyncSession, keep: int) -> None:
    """Keep the newest ``keep`` finished jobs."""
    old = (
        await session.scalars(
            select(DownloadJobRow.id)
            .where(DownloadJobRow.status.in_(FINISHED))
            .order_by(DownloadJobRow.created_at.desc())
            .offset(keep)
        )
    ).all()
    if old:
        await session.execute(delete(DownloadJobRow).where(DownloadJobRow.id.in_(old)))
