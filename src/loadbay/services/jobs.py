"""Reading, listing and cancelling jobs, and handing out result links."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from loadbay.db.jobs import JobFilter, JobRepository
from loadbay.domain.audit import SIGNED_LINK, AuditAction, Origin
from loadbay.domain.errors import Conflict, Gone, LinkRejected, NotFound, Unprocessable
from loadbay.domain.jobs import Job, JobStatus
from loadbay.domain.principals import Principal
from loadbay.security.keys import KeyRing
from loadbay.security.links import LinkSigner
from loadbay.services.audit import AuditService
from loadbay.services.cursors import decode_cursor, encode_cursor
from loadbay.storage.base import StoredRef
from loadbay.storage.registry import StoreRegistry


@dataclass(frozen=True)
class ResultLink:
    url: str
    expires_at: datetime
    file_name: str


@dataclass(frozen=True)
class Download:
    file_name: str
    size: int
    open: AbstractContextManager[BinaryIO]


class JobService:
    def __init__(
        self,
        jobs: JobRepository,
        stores: StoreRegistry,
        keys: KeyRing,
        signer: LinkSigner,
        link_ttl_seconds: int,
        link_ttl_max_seconds: int,
        audit: AuditService,
        on_ended: Callable[[str], None] = lambda job_id: None,
    ) -> None:
        self._audit = audit
        self._on_ended = on_ended
        self._jobs = jobs
        self._stores = stores
        self._keys = keys
        self._signer = signer
        self.link_ttl_seconds = link_ttl_seconds
        self.link_ttl_max_seconds = link_ttl_max_seconds

    def get(self, viewer: Principal, job_id: str, origin: Origin | None = None) -> Job:
        """The job, if ``viewer`` may see it; else 404 exactly as for a job that does not
        exist. An admin looking at someone else's job is audited."""
        job = self._visible(viewer, job_id)
        if origin is not None and viewer.is_admin and job.owner != viewer.user:
            self._audit.by(viewer, AuditAction.JOB_VIEWED, job_id=job.id, origin=origin)
        return job

    def _visible(self, viewer: Principal, job_id: str) -> Job:
        """The job if ``viewer`` may see it: their own, their tenant's for an admin, or
        shared with them."""
        job = self._jobs.get(job_id)
        if job is None or not (
            viewer.can_see(job.owner, job.tenant) or self._jobs.is_shared_with(job.id, viewer)
        ):
            raise NotFound(f"No job {job_id!r}", code="job_not_found")
        return job

    def list(
        self,
        viewer: Principal,
        filters: JobFilter,
        limit: int,
        cursor: str | None,
        origin: Origin | None = None,
    ) -> tuple[list[Job], str | None]:
        if origin is not None and viewer.is_admin:
            shown = {k: str(v) for k, v in vars(filters).items() if v is not None}
            self._audit.by(viewer, AuditAction.JOBS_LISTED, origin=origin, details=shown)
        before = decode_cursor(cursor) if cursor else None
        page = self._jobs.list_visible(viewer, filters, limit + 1, before)
        if len(page) > limit:
            return page[:limit], encode_cursor(page[limit - 1].id)
        return page, None

    def cancel(self, viewer: Principal, job_id: str, origin: Origin | None = None) -> Job:
        job = self._visible(viewer, job_id)
        if not self._jobs.transition(job_id, JobStatus.CANCELLED):
            raise Conflict(
                f"The job has already ended ({self._visible(viewer, job_id).status})",
                code="job_ended",
            )
        self._audit.by(viewer, AuditAction.JOB_CANCELLED, job_id=job.id, origin=origin)
        self._on_ended(job.id)
        return self._visible(viewer, job.id)

    def result_link(
        self,
        viewer: Principal,
        job_id: str,
        expires_in: int | None,
        origin: Origin | None = None,
    ) -> ResultLink:
        job = self._visible(viewer, job_id)
        now = datetime.now(UTC)
        if job.expired(now) or (job.expires_at is not None and not job.has_result):
            raise Gone(
                f"The export expired at {job.expires_at:%Y-%m-%d %H:%M} UTC and was deleted",
                code="export_expired",
            )
        if not job.result_available:
            raise Conflict(
                f"The job is {job.status.value}; its result is ready once it is completed",
                code="result_not_ready",
            )
        seconds = self.link_ttl_seconds if expires_in is None else expires_in
        if not 1 <= seconds <= self.link_ttl_max_seconds:
            raise Unprocessable(
                f"expires_in must be between 1 and {self.link_ttl_max_seconds} seconds",
                code="invalid_expires_in",
            )
        expires_at = now + timedelta(seconds=seconds)
        if job.expires_at is not None:  # a link never outlives the export
            expires_at = min(expires_at, job.expires_at)
        file_name = job.result_file_name()
        ref = self._result_ref(job_id)
        native = self._stores.for_ref(ref).presigned_get(ref.key, expires_at, file_name)
        if native is not None:
            link = ResultLink(native, expires_at, file_name)
        else:
            signed = self._signer.sign(job.id, file_name, expires_at)
            link = ResultLink(signed.url, signed.expires_at, file_name)
        self._audit.by(
            viewer,
            AuditAction.RESULT_LINK_ISSUED,
            job_id=job.id,
            origin=origin,
            details={"expires_at": link.expires_at.isoformat()},
        )
        return link

    def _result_ref(self, job_id: str) -> StoredRef:
        _, encrypted = self._jobs.refs(job_id)
        if encrypted is None:
            raise NotFound("The job has no result file", code="result_not_found")
        return StoredRef.from_json(self._keys.decrypt(encrypted))

    def download(
        self,
        job_id: str,
        file_name: str,
        expires: str,
        signature: str,
        origin: Origin | None = None,
    ) -> Download:
        """The result file behind a signed link; the link is checked before anything else."""
        self._signer.check(job_id, file_name, expires, signature, datetime.now(UTC))
        job = self._jobs.get(job_id)
        if job is None or not job.result_available or job.expired(datetime.now(UTC)):
            raise LinkRejected(
                "The file behind this link is no longer available", code="link_expired"
            )
        ref = self._result_ref(job_id)
        store = self._stores.for_ref(ref)
        self._audit.record(
            SIGNED_LINK, job.tenant, AuditAction.RESULT_DOWNLOADED, job_id=job.id, origin=origin
        )

        @contextmanager
        def opened() -> Iterator[BinaryIO]:
            with store.open_read(ref.key) as handle:
                yield handle

        return Download(file_name, store.size(ref.key), opened())
