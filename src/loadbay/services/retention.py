"""Deletes export files once they expire, and records that it did.

Runs on a schedule in every process that runs housekeeping (``serve`` and each
``loadbay worker``): the database says which files are due, deleting a file twice is
harmless, and each deletion is recorded once (compare-and-set). A lifecycle rule on
the bucket (README) is the second line of defence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from loadbay.db.jobs import JobRepository
from loadbay.domain.audit import SYSTEM, AuditAction
from loadbay.security.keys import KeyRing
from loadbay.services.audit import AuditService
from loadbay.storage.base import StoredRef
from loadbay.storage.registry import StoreRegistry

log = logging.getLogger(__name__)


class ExportRetention:
    def __init__(
        self,
        jobs: JobRepository,
        stores: StoreRegistry,
        keys: KeyRing,
        audit: AuditService,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._jobs = jobs
        self._stores = stores
        self._keys = keys
        self._audit = audit
        self._now = now

    def sweep(self) -> int:
        """Delete every expired file still stored; returns how many were deleted."""
        now = self._now()
        deleted = 0
        while due := self._jobs.expired_results(now):
            for job_id in due:
                deleted += self._delete(job_id, now)
        return deleted

    def _delete(self, job_id: str, now: datetime) -> int:
        job = self._jobs.get(job_id)
        _, encrypted = self._jobs.refs(job_id)
        if job is None or encrypted is None:
            return 0
        ref = StoredRef.from_json(self._keys.decrypt(encrypted))
        self._stores.for_ref(ref).delete(ref.key)  # first: a failure leaves it due
        if not self._jobs.mark_result_deleted(job_id, now):
            return 0  # another process's sweep recorded it
        expired = job.expires_at.isoformat() if job.expires_at else None
        log.info("job %s: its export expired at %s; file deleted", job_id, expired)
        self._audit.record(
            SYSTEM,
            job.tenant,
            AuditAction.EXPORT_DELETED,
            job_id=job_id,
            details={
                "storage": ref.storage,
                "container": ref.container,
                "key": ref.key,
                "expired_at": expired,
            },
        )
        return 1
