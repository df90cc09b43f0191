"""Scan results on jobs, the audit log and notification delivery attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("scan_verdict", sa.String(16)))
        batch.add_column(sa.Column("scan_signature", sa.String(255)))
        batch.add_column(sa.Column("scan_engine", sa.String(255)))
        batch.add_column(sa.Column("scanned_at", sa.DateTime(timezone=True)))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(26)),
        sa.Column("client", sa.String(100)),
        sa.Column("user_agent", sa.String(300)),
        sa.Column("details", sa.Text),
    )
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])
    op.create_index("ix_audit_log_job_id", "audit_log", ["job_id"])
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant", "id"])
    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(26), nullable=False),
        sa.Column("job_id", sa.String(26)),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notification_attempts_job_id", "notification_attempts", ["job_id"])


def downgrade() -> None:
    op.drop_table("notification_attempts")
    op.drop_table("audit_log")
    with op.batch_alter_table("jobs") as batch:
        for column in ("scanned_at", "scan_engine", "scan_signature", "scan_verdict"):
            batch.drop_column(column)
