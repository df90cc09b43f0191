"""The service database's tables (the migrations in ``migrations/`` create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("dataset", String(64)),
    Column("file_name", String(255)),
    Column("file_size", BigInteger),
    Column("processed", BigInteger, nullable=False, default=0),
    Column("total", BigInteger),
    Column("success", BigInteger, nullable=False, default=0),
    Column("failure", BigInteger, nullable=False, default=0),
    Column("error_code", String(64)),
    Column("error_message", Text),
    # Encrypted StoredRef JSON: where the uploaded file and the result file are.
    Column("source_ref", Text),
    Column("result_ref", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("scan_verdict", String(16)),
    Column("scan_signature", String(255)),
    Column("scan_engine", String(255)),
    Column("scanned_at", DateTime(timezone=True)),
    Column("params", Text),  # JSON: an export's request (dataset columns, filters, format)
    Column("expires_at", DateTime(timezone=True)),  # an export's file, once completed
    Column("result_deleted_at", DateTime(timezone=True)),  # by the retention sweep
    Index("ix_jobs_expires_at", "expires_at"),
    Index("ix_jobs_tenant_owner_id", "tenant", "owner", "id"),
    Index("ix_jobs_tenant_id", "tenant", "id"),
    Index("ix_jobs_status_kind", "status", "kind"),  # loadbay_jobs at each scrape
    # Job lists (migration 0005): one per filter, ending in id, per tenant and for all.
    Index("ix_jobs_kind_id", "kind", "id"),
    Index("ix_jobs_status_id", "status", "id"),
    Index("ix_jobs_dataset_id", "dataset", "id"),
    Index("ix_jobs_id_created_at", "id", "created_at"),
    Index("ix_jobs_tenant_kind_id", "tenant", "kind", "id"),
    Index("ix_jobs_tenant_status_id", "tenant", "status", "id"),
    Index("ix_jobs_tenant_dataset_id", "tenant", "dataset", "id"),
    Index("ix_jobs_tenant_id_created_at", "tenant", "id", "created_at"),
    Index("ix_jobs_tenant_owner_id_created_at", "tenant", "owner", "id", "created_at"),
)

# The users of the owner's tenant a job (an export) is shared with: they see it too.
job_shares = Table(
    "job_shares",
    metadata,
    Column("job_id", String(26), primary_key=True),
    Column("user", String(200), primary_key=True),
    Column("tenant", String(200), nullable=False),
    Index("ix_job_shares_tenant_user_job_id", "tenant", "user", "job_id"),
)

# Append-only: the application inserts and reads, never updates or deletes.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("job_id", String(26)),
    Column("client", String(100)),
    Column("user_agent", String(300)),
    Column("details", Text),  # JSON
    Index("ix_audit_log_actor_id", "actor", "id"),
    Index("ix_audit_log_action_id", "action", "id"),
    Index("ix_audit_log_job_id", "job_id"),
    Index("ix_audit_log_tenant_id", "tenant", "id"),
)

notification_attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", String(26), nullable=False),
    Column("job_id", String(26)),
    Column("event", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(500), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status", Integer),
    Column("error", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_notification_attempts_job_id", "job_id"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("tenant", String(200), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("object_ref", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("job_id", String(26)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_uploads_status_expires_at", "status", "expires_at"),
)

bucket_events = Table(
    "bucket_events",
    metadata,
    Column("identity", String(700), primary_key=True),
    Column("job_id", String(26)),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# The steps of each job (see ``db/steps.py``): what runs, where, and what it found.
job_steps = Table(
    "job_steps",
    metadata,
    Column("job_id", String(26), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("phase", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("ready_at", DateTime(timezone=True)),
    Column("enqueued_at", DateTime(timezone=True)),
    Column("sends", Integer, nullable=False, default=0),  # since it last became ready
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("processed", BigInteger, nullable=False, default=0),
    Column("success", BigInteger, nullable=False, default=0),
    Column("failure", BigInteger, nullable=False, default=0),
    Column("spec", Text),
    Column("result", Text),
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_job_steps_state_ready_at", "state", "ready_at"),
)
