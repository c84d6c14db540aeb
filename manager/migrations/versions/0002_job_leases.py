"""Download jobs shared by several managers: a lease per job, one active job per model commit.

- ``lease_holder`` / ``lease_expires_at``: the manager running the job and until when; the
  holder renews it while the job runs, another manager takes over a job whose lease expired.
- ``uq_download_jobs_active``: at most one active (queued, downloading, paused, verifying) job
  per model and commit, so two managers asked for the same model at once create one job.
  Duplicates left by older versions are cancelled first (the oldest job is kept; they share
  its files, so no file is removed).
- ``schema_version``, the marker of the schema before migrations, is dropped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIVE = ("queued", "downloading", "paused", "verifying")


def _active() -> sa.ColumnElement[bool]:
    return sa.column("status").in_(ACTIVE)


def _cancel_duplicates() -> None:
    jobs = sa.table(
        "download_jobs",
        sa.column("id", sa.String),
        sa.column("model_id", sa.String),
        sa.column("commit", sa.String),
        sa.column("status", sa.String),
        sa.column("error", sa.JSON),
        sa.column("created_at", sa.Float),
        sa.column("updated_at", sa.Float),
        sa.column("finished_at", sa.Float),
    )
    older = jobs.alias("older")
    kept_earlier = (
        sa.select(sa.literal(1))
        .where(
            older.c.model_id == jobs.c.model_id,
            older.c.commit == jobs.c.commit,
            older.c.status.in_(ACTIVE),
            sa.or_(
                older.c.created_at < jobs.c.created_at,
                sa.and_(older.c.created_at == jobs.c.created_at, older.c.id < jobs.c.id),
            ),
        )
        .exists()
    )
    now = time.time()
    error: dict[str, object] = {
        "message": "cancelled when upgrading: another active job downloads the same model",
        "type": "invalid_request_error",
        "code": "duplicate_job",
        "param": None,
        "src": "manager",
        "details": {},
        "resolution_steps": ["Follow the older job of this model (GET /api/downloads)."],
    }
    op.execute(
        jobs.update()
        .where(jobs.c.status.in_(ACTIVE), kept_earlier)
        .values(status="cancelled", error=error, updated_at=now, finished_at=now)
    )


def upgrade() -> None:
    op.add_column("download_jobs", sa.Column("lease_holder", sa.String(64), nullable=True))
    op.add_column("download_jobs", sa.Column("lease_expires_at", sa.Float(), nullable=True))
    _cancel_duplicates()
    op.create_index(
        "uq_download_jobs_active",
        "download_jobs",
        ["model_id", "commit"],
        unique=True,
        sqlite_where=_active(),
        postgresql_where=_active(),
    )
    op.execute("DROP TABLE IF EXISTS schema_version")


def downgrade() -> None:
    op.drop_index("uq_download_jobs_active", table_name="download_jobs")
    with op.batch_alter_table("download_jobs") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_holder")
