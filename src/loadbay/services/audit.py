"""Recording and reading the audit log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from loadbay.db.audit import AuditFilter, AuditRepository
from loadbay.domain.audit import AuditAction, AuditEntry, Origin
from loadbay.domain.errors import Forbidden
from loadbay.domain.ids import new_id
from loadbay.domain.principals import Principal
from loadbay.services.cursors import decode_cursor, encode_cursor

log = logging.getLogger(__name__)


class AuditService:
    def __init__(self, repository: AuditRepository) -> None:
        self._repository = repository

    def record(
        self,
        actor: str,
        tenant: str,
        action: AuditAction,
        *,
        job_id: str | None = None,
        origin: Origin | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            id=new_id(),
            at=datetime.now(UTC),
            actor=actor,
            tenant=tenant,
            action=action,
            job_id=job_id,
            origin=origin or Origin(),
            details=details or {},
        )
        self._repository.append(entry)
        log.info("audit %s by %s job=%s", action.value, actor, job_id)

    def by(
        self,
        principal: Principal,
        action: AuditAction,
        *,
        job_id: str | None = None,
        origin: Origin | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an action of ``principal``."""
        self.record(
            principal.user, principal.tenant, action, job_id=job_id, origin=origin, details=details
        )

    def list(
        self,
        viewer: Principal,
        filters: AuditFilter,
        limit: int,
        cursor: str | None,
        origin: Origin | None = None,
    ) -> tuple[list[AuditEntry], str | None]:
        """Entries an admin may see (their tenant's, or all with no tenant), newest first."""
        if not viewer.is_admin:
            raise Forbidden("Only admins may read the audit log", code="forbidden")
        self.by(viewer, AuditAction.AUDIT_VIEWED, origin=origin)
        before = decode_cursor(cursor) if cursor else None
        tenant = None if viewer.sees_every_tenant else viewer.tenant
        page = self._repository.list(tenant, filters, limit + 1, before)
        if len(page) > limit:
            return page[:limit], encode_cursor(page[limit - 1].id)
        return page, None
