"""How many times a waiting step was sent: the recovery sweep waits twice as long
before each resend, so that a deep backlog is not sent again every period.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_steps") as batch:
        batch.add_column(sa.Column("sends", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("job_steps") as batch:
        batch.drop_column("sends")
