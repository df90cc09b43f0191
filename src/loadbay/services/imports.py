"""Accepting an upload: stream it into the incoming store, then record and queue the job.

No job exists until the whole file is stored, and a rejected upload leaves no object
behind, so nothing is ever half-received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from loadbay.datasets.registry import DatasetRegistry
from loadbay.db.jobs import JobRepository
from loadbay.domain.audit import AuditAction, Origin
from loadbay.domain.errors import NotFound, PayloadTooLarge, Unprocessable
from loadbay.domain.ids import new_id
from loadbay.domain.jobs import Job, JobKind, JobStatus
from loadbay.domain.principals import Principal
from loadbay.security.keys import KeyRing
from loadbay.services.audit import AuditService
from loadbay.services.filenames import clean_file_name
from loadbay.services.sniffing import HEAD_BYTES, check_text
from loadbay.storage.base import ObjectWriter, Store, StoredRef


class Upload:
    """One incoming file being received; :meth:`write` enforces the size limit."""

    def __init__(self, store: Store, job_id: str, max_bytes: int) -> None:
        self.store = store
        self.job_id = job_id
        self.key = f"{job_id}/upload"
        self.size = 0
        self._max_bytes = max_bytes
        self._writer: ObjectWriter | None = None
        self._head = b""
        self._sniffed = False

    @contextmanager
    def receiving(self) -> Iterator[Upload]:
        """Open the object; it is stored when the block ends, discarded if it raises."""
        with self.store.open_write(self.key) as writer:
            self._writer = writer
            yield self
            self._sniff()
        self._writer = None

    def _sniff(self) -> None:
        if not self._sniffed and self.size:
            self._sniffed = True
            check_text(self._head)

    def write(self, data: bytes) -> None:
        if self._writer is None:
            raise RuntimeError("write outside receiving()")
        self.size += len(data)
        if self.size > self._max_bytes:
            raise PayloadTooLarge(f"The file is larger than the maximum of {self._max_bytes} bytes")
        if not self._sniffed:
            self._head += data[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self._sniff()
        self._writer.write(data)

    def discard(self) -> None:
        self.store.delete(self.key)


class ImportService:
    def __init__(
        self,
        jobs: JobRepository,
        incoming: Store,
        keys: KeyRing,
        datasets: DatasetRegistry,
        start_job: Callable[[Job], None],
        max_upload_bytes: int,
        audit: AuditService,
    ) -> None:
        self._audit = audit
        self._jobs = jobs
        self._incoming = incoming
        self._keys = keys
        self._datasets = datasets
        self._start_job = start_job  # records the job's first steps and sends them
        self.max_upload_bytes = max_upload_bytes

    def check_dataset(self, name: str | None) -> str:
        if not name:
            raise Unprocessable("The form field 'dataset' is required", code="unknown_dataset")
        if name not in self._datasets:
            known = ", ".join(d.name for d in self._datasets)
            raise Unprocessable(
                f"Unknown dataset {name!r}; known datasets: {known}", code="unknown_dataset"
            )
        return name

    def job(self, principal: Principal, job_id: str) -> Job:
        found = self._jobs.get(job_id)
        if found is None or not principal.can_see(found.owner, found.tenant):
            raise NotFound(f"No job {job_id!r}", code="job_not_found")
        return found

    def new_upload(self) -> Upload:
        return Upload(self._incoming, new_id(), self.max_upload_bytes)

    def submit(
        self,
        principal: Principal,
        upload: Upload,
        dataset: str | None,
        file_name: str | None,
        origin: Origin | None = None,
    ) -> Job:
        """Record the received upload as a job and queue it; the upload is discarded if
        it cannot become a job."""
        try:
            return self.submit_stored(
                principal,
                upload.store.ref(upload.key),
                upload.size,
                dataset,
                file_name,
                origin,
                job_id=upload.job_id,
            )
        except Exception:
            upload.discard()
            raise

    def submit_stored(
        self,
        principal: Principal,
        ref: StoredRef,
        size: int,
        dataset: str | None,
        file_name: str | None,
        origin: Origin | None = None,
        *,
        job_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Job:
        """Start importing a file that is already in a store (an API upload, a
        direct-to-bucket upload, a bucket event): record the job and queue it."""
        name = self.check_dataset(dataset)
        if size == 0:
            raise Unprocessable("No file, or an empty file, was uploaded", code="empty_file")
        if size > self.max_upload_bytes:
            raise PayloadTooLarge(
                f"The file is larger than the maximum of {self.max_upload_bytes} bytes"
            )
        job = Job(
            id=job_id or new_id(),
            kind=JobKind.IMPORT,
            status=JobStatus.RECEIVED,
            owner=principal.user,
            tenant=principal.tenant,
            dataset=name,
            file_name=clean_file_name(file_name),
            file_size=size,
            created_at=datetime.now(UTC),
        )
        self._jobs.add(job, self._keys.encrypt(ref.to_json()))
        self._audit.by(
            principal,
            AuditAction.IMPORT_CREATED,
            job_id=job.id,
            origin=origin,
            details={
                "dataset": name,
                "file_name": job.file_name,
                "file_size": size,
                **(details or {}),
            },
        )
        self._start_job(job)
        return job
