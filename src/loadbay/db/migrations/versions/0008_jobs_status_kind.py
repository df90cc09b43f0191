"""An index on ``(status, kind)`` for ``loadbay_jobs``: each ``/metrics`` scrape counts
the jobs by status and kind, which without it reads the whole table (198 ms on 1M jobs,
``bench/jobs_list_bench.py``); with it PostgreSQL reads the index alone. It replaces
``ix_jobs_status``, its prefix.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_status_kind", "jobs", ["status", "kind"])
    op.drop_index("ix_jobs_status", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.drop_index("ix_jobs_status_kind", table_name="jobs")
