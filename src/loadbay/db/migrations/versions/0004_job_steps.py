"""The steps of each job: the durable record that lets many workers share one job.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_steps",
        sa.Column("job_id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),  # "split", "decide/00003"...
        sa.Column("phase", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),  # pending, running, done, dead
        # When the step may run: null while an earlier phase is unfinished; later than
        # now while a failed attempt backs off.
        sa.Column("ready_at", sa.DateTime(timezone=True)),
        sa.Column("enqueued_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("processed", sa.BigInteger, nullable=False),
        sa.Column("success", sa.BigInteger, nullable=False),
        sa.Column("failure", sa.BigInteger, nullable=False),
        sa.Column("spec", sa.Text),  # JSON: what the step works on (plain data)
        sa.Column("result", sa.Text),  # JSON: what it found, for the next phase
        sa.Column("error", sa.Text),  # the last failed attempt's error
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_job_steps_state_ready_at", "job_steps", ["state", "ready_at"])


def downgrade() -> None:
    op.drop_index("ix_job_steps_state_ready_at", table_name="job_steps")
    op.drop_table("job_steps")
