"""The scanning stage: no uploaded byte reaches the import stage before it is scanned.

The file streams from the incoming store to the scanner. Clean, it moves to the
permanent store; infected, to the quarantine store (which no link ever serves) and
the job ends ``quarantined``. With a scanner configured and ``required`` (the
default), the stage fails closed: while the scanner cannot be reached the job waits
in ``scanning``, retrying with backoff, and fails ``scan_unavailable`` after
``unavailable_timeout`` seconds. A file too large for the scanner is not clean:
it fails ``file_too_large_to_scan`` unless the policy allows it through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from loadbay.db.jobs import JobRepository
from loadbay.domain.audit import SYSTEM, AuditAction
from loadbay.domain.errors import JobFailure
from loadbay.domain.jobs import Job, JobError, JobStatus, ScanRecord, ScanVerdict
from loadbay.scanners.base import Scanner, ScannerUnavailable, ScanResult
from loadbay.scanners.base import ScanVerdict as Verdict
from loadbay.security.keys import KeyRing
from loadbay.services.audit import AuditService
from loadbay.storage.base import StoredRef
from loadbay.storage.registry import StoreRegistry
from loadbay.storage.transfer import copy_object

log = logging.getLogger(__name__)


class ScanUnavailable(JobFailure):
    code = "scan_unavailable"


class FileTooLargeToScan(JobFailure):
    code = "file_too_large_to_scan"


class Interrupted(Exception):
    """The process is stopping while the job waits for the scanner."""


@dataclass(frozen=True)
class ScanPolicy:
    required: bool = True
    allow_too_large: bool = False
    unavailable_timeout: float = 600.0
    first_retry_delay: float = 1.0
    max_retry_delay: float = 30.0


class ScanStage:
    """Scans a job's upload and moves it to where its verdict says it belongs."""

    def __init__(
        self,
        scanner: Scanner | None,
        policy: ScanPolicy,
        jobs: JobRepository,
        stores: StoreRegistry,
        keys: KeyRing,
        audit: AuditService,
        stopping: threading.Event,
        alert: Callable[[str, Job, str], None],
        clock: Callable[[], float] = time.monotonic,
        on_verdict: Callable[[str], None] | None = None,
    ) -> None:
        """``on_verdict`` hears every recorded verdict (``clean``, ``infected``,
        ``too_large``, ``skipped``), e.g. ``Metrics.scan_verdict``."""
        self._scanner = scanner
        self._policy = policy
        self._jobs = jobs
        self._stores = stores
        self._keys = keys
        self._audit = audit
        self._stopping = stopping
        self._alert = alert
        self._clock = clock
        self._on_verdict = on_verdict

    def run(self, job: Job) -> bool:
        """Scan; True when the job may go on to processing, False when it has ended."""
        source = self._source(job)
        if self._scanner is None:
            self._accept(job, source, ScanRecord(ScanVerdict.SKIPPED, scanned_at=_now()))
            return True
        result = self._scan_with_retries(job, source)
        if result is None:  # not required, and the scanner stayed away
            self._accept(job, source, ScanRecord(ScanVerdict.SKIPPED, scanned_at=_now()))
            return True
        record = ScanRecord(
            ScanVerdict(result.verdict.value), result.signature, result.engine, _now()
        )
        if result.verdict is Verdict.INFECTED:
            self._quarantine(job, source, record)
            return False
        if result.verdict is Verdict.TOO_LARGE and not self._policy.allow_too_large:
            self._record(job, record)
            raise FileTooLargeToScan(
                "The file is larger than the malware scanner accepts, so it was not scanned "
                "and will not be imported"
            )
        self._accept(job, source, record)
        return True

    def _source(self, job: Job) -> StoredRef:
        encrypted, _ = self._jobs.refs(job.id)
        if encrypted is None:
            raise JobFailure("The uploaded file is missing", code="source_missing")
        return StoredRef.from_json(self._keys.decrypt(encrypted))

    def _scan_with_retries(self, job: Job, source: StoredRef) -> ScanResult | None:
        assert self._scanner is not None
        store = self._stores.for_ref(source)
        started = self._clock()
        delay = self._policy.first_retry_delay
        while True:
            try:
                with store.open_read(source.key) as stream:
                    return self._scanner.scan(stream)
            except ScannerUnavailable as error:
                waited = self._clock() - started
                log.warning("job %s: scanner unavailable (%s); waited %.0fs", job.id, error, waited)
                if waited >= self._policy.unavailable_timeout:
                    self._give_up(job, error)
                    return None
            if self._stopping.wait(delay):
                raise Interrupted(job.id)
            current = self._jobs.get(job.id)
            if current is None or current.status is not JobStatus.SCANNING:
                raise Interrupted(job.id)  # cancelled while waiting
            delay = min(delay * 2, self._policy.max_retry_delay)

    def _give_up(self, job: Job, error: ScannerUnavailable) -> None:
        message = f"The malware scanner could not be reached: {error}"
        if not self._policy.required:
            self._alert("scan.unavailable", job, message + "; the file was let through unscanned")
            return
        self._alert("scan.unavailable", job, message)
        raise ScanUnavailable(
            "The malware scanner could not be reached, so the file was not imported"
        )

    def _record(self, job: Job, record: ScanRecord) -> None:
        self._jobs.record_scan(job.id, record)
        if self._on_verdict is not None:
            self._on_verdict(record.verdict.value)

    def _accept(self, job: Job, source: StoredRef, record: ScanRecord) -> None:
        self._record(job, record)
        self._move(job, source, "permanent")

    def _quarantine(self, job: Job, source: StoredRef, record: ScanRecord) -> None:
        self._record(job, record)
        self._move(job, source, "quarantine")
        message = f"The file contains malware ({record.signature}); it was quarantined"
        if self._jobs.fail(job.id, JobError("malware_detected", message), JobStatus.QUARANTINED):
            self._audit.record(
                SYSTEM,
                job.tenant,
                AuditAction.JOB_QUARANTINED,
                job_id=job.id,
                details={"signature": record.signature, "engine": record.engine},
            )
            log.warning("job %s quarantined: %s", job.id, record.signature)

    def _move(self, job: Job, source: StoredRef, store_name: str) -> None:
        target = self._stores[store_name]
        if (source.storage, source.container) == (target.storage, target.container):
            return
        key = f"{job.id}/upload"
        # Copy, repoint the job, then delete: a crash anywhere leaves the job pointing
        # at a complete copy.
        origin = self._stores.for_ref(source)
        copy_object(origin, source.key, target, key)
        self._jobs.set_source(job.id, self._keys.encrypt(target.ref(key).to_json()))
        origin.delete(source.key)


def _now() -> datetime:
    return datetime.now(UTC)
