"""Direct-to-bucket uploads and the bucket events already acted on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("object_ref", sa.Text, nullable=False),  # encrypted StoredRef
        sa.Column("status", sa.String(16), nullable=False),  # pending, completed, expired
        sa.Column("job_id", sa.String(26)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_uploads_status_expires_at", "uploads", ["status", "expires_at"])
    op.create_table(
        "bucket_events",
        # What identifies one object version's creation: the same event delivered
        # twice has the same identity and starts one job.
        sa.Column("identity", sa.String(700), primary_key=True),
        sa.Column("job_id", sa.String(26)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bucket_events")
    op.drop_table("uploads")
