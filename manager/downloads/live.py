"""A download job in memory, and the one way a job becomes its API answer.

A job that is queued or running lives in memory as a :class:`LiveJob`: its files' states
change under the engine, the ticker reads its speed. A job that is only a row (paused,
finished, run by another manager) is read into the same shape (:func:`job_from_row`), so
:meth:`LiveJob.render` is the one renderer of a ``DownloadJob``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from manager.downloads.file_state import FileState
from manager.downloads.plan import RemoteFile
from manager.downloads.schemas import DownloadJob, FileProgress, FileStatus, JobStatus
from manager.downloads.tables import DownloadFileRow, DownloadJobRow
from shared_schemas.errors import ErrorBody


@dataclass
class LiveJob:
    """A job's state: in memory while it is queued or running (see the module docstring)."""

    id: str
    model_id: str
    revision: str
    commit: str | None
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

    @property
    def running(self) -> bool:
        return self.status in (JobStatus.DOWNLOADING, JobStatus.VERIFYING)

    def files_pending_again(self) -> None:
        """The files it was fetching or verifying when it stopped are pending again."""
        for state in self.files:
            if state.status in (FileStatus.DOWNLOADING, FileStatus.VERIFYING):
                state.status = FileStatus.PENDING

    def row_values(
        self,
        progress_only: bool,
        *,
        error: dict[str, Any] | None = None,
        finished_at: float | None = None,
    ) -> dict[str, Any]:
        """The job's columns to save (``progress_only``: bytes, not status)."""
        values: dict[str, Any] = {
            "bytes_done": self.bytes_done,
            "bytes_transferred": self.transferred,
            "updated_at": self.updated_at,
        }
        if not progress_only:
            values.update(
                status=self.status.value,
                started_at=self.started_at,
                error=error,
                finished_at=finished_at,
            )
        return values

    def file_values(self) -> list[dict[str, Any]]:
        """Its files' progress to save, one mapping per file row."""
        return [
            {
                "job_id": self.id,
                "path": f.file.path,
                "bytes_done": f.bytes_done,
                "status": f.status.value,
            }
            for f in self.files
        ]

    def render(self) -> DownloadJob:
        speed = self.speed if self.running else None
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


def remote_file(row: DownloadFileRow) -> RemoteFile:
    return RemoteFile(path=row.path, size=row.size, blob_id=row.blob_id, sha256=row.sha256)


def job_from_row(row: DownloadJobRow) -> LiveJob:
    """The job as its rows tell it (progress as last saved)."""
    return LiveJob(
        id=row.id,
        model_id=row.model_id,
        revision=row.revision,
        commit=row.commit,
        format=row.format,
        allow_patterns=list(row.allow_patterns or []),
        status=JobStatus(row.status),
        files=[
            FileState(file=remote_file(f), bytes_done=f.bytes_done, status=FileStatus(f.status))
            for f in row.files
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        transferred_before=row.bytes_transferred,
        error=row.error,
        warning=row.warning_note.body if row.warning_note is not None else None,
        finished_at=row.finished_at,
    )


def render_row(row: DownloadJobRow) -> DownloadJob:
    return job_from_row(row).render()
