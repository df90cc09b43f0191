"""Indexes that keep job lists fast with millions of jobs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``JobRepository.list_visible`` asks for the newest jobs (``ORDER BY id DESC LIMIT n``,
ids being time-ordered ULIDs) of one owner, one tenant or every tenant, optionally of
one kind, status or dataset, created within a window, and older than a cursor id. With
only ``(tenant, id)`` and ``(tenant, owner, id)`` PostgreSQL walks the ids backwards and
reads every row until it has ``n`` that match: instant for common values, but a rare
status or dataset, or a value no job has, reads the whole tenant (or table).

So each equality filter gets an index ending in ``id``, per tenant and for the root
admin (who sees every tenant, and there is no skip scan to reuse the per-tenant ones):
the walk then only meets matching rows, and the cursor is a range on the same index.

``created_at`` cannot lead such an index (the order is by id), but as a column after
``id`` it is checked inside the index: a walk back to a window far in the past reads
index entries, not table rows (bench: a tenant's month a year ago, 500 ms -> 25 ms on
1M jobs). Bounding ``id`` by the window's ULID prefix in the query would make it instant.

``bench/jobs_list_bench.py`` measures all of it. The older ``ix_jobs_status``,
``ix_jobs_tenant_id`` and ``ix_jobs_tenant_owner_id`` are prefixes of these and could
be dropped in a later revision.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: name -> columns; ``loadbay.db.tables.jobs`` declares the same.
INDEXES = {
    "ix_jobs_kind_id": ["kind", "id"],
    "ix_jobs_status_id": ["status", "id"],
    "ix_jobs_dataset_id": ["dataset", "id"],
    "ix_jobs_id_created_at": ["id", "created_at"],
    "ix_jobs_tenant_kind_id": ["tenant", "kind", "id"],
    "ix_jobs_tenant_status_id": ["tenant", "status", "id"],
    "ix_jobs_tenant_dataset_id": ["tenant", "dataset", "id"],
    "ix_jobs_tenant_id_created_at": ["tenant", "id", "created_at"],
    "ix_jobs_tenant_owner_id_created_at": ["tenant", "owner", "id", "created_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "jobs", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="jobs")
