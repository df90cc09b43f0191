from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from loadbay.api.deps import CurrentPrincipal, OriginDep, ServicesDep
from loadbay.api.schemas import AuditEntryOut, AuditPage, ErrorBody
from loadbay.db.audit import AuditFilter
from loadbay.domain.audit import AuditAction

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=AuditPage, responses={403: {"model": ErrorBody}})
def list_audit(
    services: ServicesDep,
    principal: CurrentPrincipal,
    origin: OriginDep,
    user: str | None = None,
    action: AuditAction | None = None,
    job_id: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> AuditPage:
    """Admins only: who did what, when and from where, newest first."""
    filters = AuditFilter(user, action, job_id, after, before)
    entries, next_cursor = services.audit.list(principal, filters, limit, cursor, origin)
    return AuditPage(items=[AuditEntryOut.of(e) for e in entries], next_cursor=next_cursor)
