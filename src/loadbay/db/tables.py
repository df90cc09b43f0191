"""The service database's tables (the migrations in ``migrations/`` create them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

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
    Index("ix_jobs_tenant_owner_id", "tenant", "owner", "id"),
    Index("ix_jobs_tenant_id", "tenant", "id"),
    Index("ix_jobs_status", "status"),
)
