"""The audit log table: appended to and read, never updated or deleted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import RowMapping

from loadbay.db.tables import audit_log
from loadbay.domain.audit import AuditAction, AuditEntry, Origin


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: AuditAction | None = None
    job_id: str | None = None
    after: datetime | None = None
    before: datetime | None = None


def _entry(row: RowMapping) -> AuditEntry:
    at: datetime = row["at"]
    return AuditEntry(
        id=row["id"],
        at=at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
        actor=row["actor"],
        tenant=row["tenant"],
        action=AuditAction(row["action"]),
        job_id=row["job_id"],
        origin=Origin(row["client"], row["user_agent"]),
        details=json.loads(row["details"] or "{}"),
    )


class AuditRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, entry: AuditEntry) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                insert(audit_log).values(
                    id=entry.id,
                    at=entry.at,
                    actor=entry.actor,
                    tenant=entry.tenant,
                    action=entry.action.value,
                    job_id=entry.job_id,
                    client=entry.origin.client,
                    user_agent=(entry.origin.user_agent or "")[:300] or None,
                    details=json.dumps(dict(entry.details), sort_keys=True, default=str),
                )
            )

    def list(
        self, tenant: str | None, filters: AuditFilter, limit: int, before_id: str | None
    ) -> list[AuditEntry]:
        """Newest first; ``tenant`` None means every tenant."""
        query = select(audit_log)
        if tenant is not None:
            query = query.where(audit_log.c.tenant == tenant)
        if filters.actor:
            query = query.where(audit_log.c.actor == filters.actor)
        if filters.action:
            query = query.where(audit_log.c.action == filters.action.value)
        if filters.job_id:
            query = query.where(audit_log.c.job_id == filters.job_id)
        if filters.after:
            query = query.where(audit_log.c.at > filters.after)
        if filters.before:
            query = query.where(audit_log.c.at < filters.before)
        if before_id:
            query = query.where(audit_log.c.id < before_id)
        query = query.order_by(audit_log.c.id.desc()).limit(limit)
        with self._engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query).mappings()]
