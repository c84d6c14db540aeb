"""The tables as they were before migrations: download jobs and files, the library registry.

A database created before migrations existed (``create_all`` at start-up, with a
``schema_version`` table) already has some or all of these tables: those are kept as they
are and only the missing ones are created, so such a database is adopted, not rebuilt.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _download_jobs() -> None:
    op.create_table(
        "download_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("commit", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("allow_patterns", sa.JSON(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("bytes_transferred", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_download_jobs_model_status", "download_jobs", ["model_id", "revision", "status"]
    )
    op.create_index("ix_download_jobs_status", "download_jobs", ["status"])
    op.create_index("ix_download_jobs_created_at", "download_jobs", ["created_at"])


def _download_files() -> None:
    op.create_table(
        "download_files",
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("download_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_id", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )


def _library_models() -> None:
    op.create_table(
        "library_models",
        sa.Column("model_id", sa.String(256), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.Column("import_origin", sa.Text(), nullable=True),
        sa.Column("import_mode", sa.String(8), nullable=True),
        sa.Column("config_hash", sa.String(64), nullable=True),
        sa.Column("characteristics", sa.JSON(), nullable=True),
    )


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in (
        ("download_jobs", _download_jobs),
        ("download_files", _download_files),
        ("library_models", _library_models),
    ):
        if name not in existing:
            create()


def downgrade() -> None:
    op.drop_table("library_models")
    op.drop_table("download_files")
    op.drop_table("download_jobs")
