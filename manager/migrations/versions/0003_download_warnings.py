"""The warning a download was forced past (its model's compatibility verdict), one row per job.

A database made before migrations by a version that already had this table keeps it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "download_warnings" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "download_warnings",
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("download_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("body", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("download_warnings")
