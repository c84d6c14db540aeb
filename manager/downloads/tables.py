"""Download jobs in the database: one row per job, one row per file of the job.

Bytes are also on disk (the partial files are the truth for resuming); the rows say what was
asked for, where each job stands, and keep finished jobs as history. A job forced past its
model's compatibility verdict keeps that warning in a row of its own. The schema is changed
only by a migration (``manager/migrations/versions``); a test checks the two agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, String, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from manager.database import Base
from manager.downloads.schemas import ACTIVE_STATUSES

ACTIVE_CLAUSE = column("status").in_(sorted(s.value for s in ACTIVE_STATUSES))


class DownloadJobRow(Base):
    __tablename__ = "download_jobs"
    __table_args__ = (
        Index("ix_download_jobs_model_status", "model_id", "revision", "status"),
        # One active job per model commit, even when several managers are asked at once.
        Index(
            "uq_download_jobs_active",
            "model_id",
            "commit",
            unique=True,
            sqlite_where=ACTIVE_CLAUSE,
            postgresql_where=ACTIVE_CLAUSE,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200))
    revision: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[str] = mapped_column(String(16), index=True)
    format: Mapped[str | None] = mapped_column(String(16), default=None)
    allow_patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_transferred: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, default=None)
    finished_at: Mapped[float | None] = mapped_column(Float, default=None)
    # The manager running the job and until when (``claims.py``).
    lease_holder: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, default=None)

    files: Mapped[list[DownloadFileRow]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DownloadFileRow.path",
        lazy="selectin",
    )
    warning_note: Mapped[DownloadWarningRow | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class DownloadFileRow(Base):
    __tablename__ = "download_files"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("download_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    blob_id: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")

    job: Mapped[DownloadJobRow] = relationship(back_populates="files")


class DownloadWarningRow(Base):
    """The warning a job was started with (an ``ErrorBody`` as JSON)."""

    __tablename__ = "download_warnings"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("download_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
