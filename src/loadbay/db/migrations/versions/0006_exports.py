"""Exports: what was asked for, when the file expires and was deleted, who it is
shared with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("params", sa.Text))  # JSON: an export's request
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("result_deleted_at", sa.DateTime(timezone=True)))
    # The retention sweep's question: results past their expiry, not yet deleted.
    op.create_index("ix_jobs_expires_at", "jobs", ["expires_at"])
    op.create_table(
        "job_shares",
        sa.Column("job_id", sa.String(26), primary_key=True),
        sa.Column("user", sa.String(200), primary_key=True),
        sa.Column("tenant", sa.String(200), nullable=False),
    )
    # A user's list: the jobs shared with them, newest first.
    op.create_index("ix_job_shares_tenant_user_job_id", "job_shares", ["tenant", "user", "job_id"])


def downgrade() -> None:
    op.drop_index("ix_job_shares_tenant_user_job_id", table_name="job_shares")
    op.drop_table("job_shares")
    op.drop_index("ix_jobs_expires_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("result_deleted_at")
        batch.drop_column("expires_at")
        batch.drop_column("params")
