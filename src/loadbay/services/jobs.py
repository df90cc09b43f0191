"""Reading, listing and cancelling jobs, and handing out result links."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from loadbay.db.jobs import JobFilter, JobRepository
from loadbay.domain.errors import Conflict, LinkRejected, NotFound, Unprocessable
from loadbay.domain.ids import is_valid_id
from loadbay.domain.jobs import Job, JobStatus
from loadbay.domain.principals import Principal
from loadbay.security.keys import KeyRing
from loadbay.security.links import LinkSigner
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


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    try:
        job_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise Unprocessable("The cursor is not valid", code="invalid_cursor") from error
    if not is_valid_id(job_id):
        raise Unprocessable("The cursor is not valid", code="invalid_cursor")
    return job_id


class JobService:
    def __init__(
        self,
        jobs: JobRepository,
        stores: StoreRegistry,
        keys: KeyRing,
        signer: LinkSigner,
        link_ttl_seconds: int,
        link_ttl_max_seconds: int,
    ) -> None:
        self._jobs = jobs
        self._stores = stores
        self._keys = keys
        self._signer = signer
        self.link_ttl_seconds = link_ttl_seconds
        self.link_ttl_max_seconds = link_ttl_max_seconds

    def get(self, viewer: Principal, job_id: str) -> Job:
        """The job, if ``viewer`` may see it; else 404 exactly as for a job that does not exist."""
        job = self._jobs.get(job_id)
        if job is None or not viewer.can_see(job.owner, job.tenant):
            raise NotFound(f"No job {job_id!r}", code="job_not_found")
        return job

    def list(
        self, viewer: Principal, filters: JobFilter, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        before = decode_cursor(cursor) if cursor else None
        page = self._jobs.list_visible(viewer, filters, limit + 1, before)
        if len(page) > limit:
            return page[:limit], encode_cursor(page[limit - 1].id)
        return page, None

    def cancel(self, viewer: Principal, job_id: str) -> Job:
        job = self.get(viewer, job_id)
        if not self._jobs.transition(job_id, JobStatus.CANCELLED):
            raise Conflict(
                f"The job has already ended ({self.get(viewer, job_id).status})", code="job_ended"
            )
        return self.get(viewer, job.id)

    def result_link(self, viewer: Principal, job_id: str, expires_in: int | None) -> ResultLink:
        job = self.get(viewer, job_id)
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
        expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        file_name = job.result_file_name()
        ref = self._result_ref(job_id)
        native = self._stores.for_ref(ref).presigned_get(ref.key, expires_at, file_name)
        if native is not None:
            return ResultLink(native, expires_at, file_name)
        link = self._signer.sign(job.id, file_name, expires_at)
        return ResultLink(link.url, link.expires_at, file_name)

    def _result_ref(self, job_id: str) -> StoredRef:
        _, encrypted = self._jobs.refs(job_id)
        if encrypted is None:
            raise NotFound("The job has no result file", code="result_not_found")
        return StoredRef.from_json(self._keys.decrypt(encrypted))

    def download(self, job_id: str, file_name: str, expires: str, signature: str) -> Download:
        """The result file behind a signed link; the link is checked before anything else."""
        self._signer.check(job_id, file_name, expires, signature, datetime.now(UTC))
        job = self._jobs.get(job_id)
        if job is None or not job.result_available:
            raise LinkRejected(
                "The file behind this link is no longer available", code="link_expired"
            )
        ref = self._result_ref(job_id)
        store = self._stores.for_ref(ref)

        @contextmanager
        def opened() -> Iterator[BinaryIO]:
            with store.open_read(ref.key) as handle:
                yield handle

        return Download(file_name, store.size(ref.key), opened())
