"""The audit log's entries: who did what, when, from where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

SYSTEM = "system"  # the actor of what loadbay does by itself (e.g. quarantine)
SIGNED_LINK = "signed-link"  # the actor of a download through a signed link


class AuditAction(StrEnum):
    IMPORT_CREATED = "import.created"
    EXPORT_REQUESTED = "export.requested"  # with its dataset, filters, columns, format
    EXPORT_DELETED = "export.deleted"  # the retention sweep removed its file
    RESULT_LINK_ISSUED = "result.link_issued"
    RESULT_DOWNLOADED = "result.downloaded"
    JOB_CANCELLED = "job.cancelled"
    JOB_QUARANTINED = "job.quarantined"
    JOB_VIEWED = "job.viewed"  # an admin looked at someone else's job
    JOBS_LISTED = "jobs.listed"  # an admin listed jobs
    AUDIT_VIEWED = "audit.viewed"


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    client: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: datetime
    actor: str
    tenant: str
    action: AuditAction
    job_id: str | None = None
    origin: Origin = field(default_factory=Origin)
    details: Mapping[str, Any] = field(default_factory=dict)
