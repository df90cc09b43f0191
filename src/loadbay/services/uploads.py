"""Direct-to-bucket uploads: large files go from the client straight to the incoming
store with a presigned URL; loadbay only announces the upload and, once the client
says it is done, checks the object and starts the import.

Uploads never completed expire (``uploads.ttl_seconds``) and their objects are
deleted by :meth:`UploadService.expire_overdue`, which the service runs on a timer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loadbay.db.uploads import COMPLETED, EXPIRED, UploadRecord, UploadRepository
from loadbay.domain.audit import Origin
from loadbay.domain.errors import Conflict, Gone, NotFound, PayloadTooLarge, Unprocessable
from loadbay.domain.ids import new_id
from loadbay.domain.jobs import Job
from loadbay.domain.principals import Principal
from loadbay.security.keys import KeyRing
from loadbay.services.filenames import clean_file_name
from loadbay.services.imports import ImportService
from loadbay.storage.base import PresignedUpload, Store, StoredRef
from loadbay.storage.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnouncedUpload:
    id: str
    target: PresignedUpload
    expires_at: datetime


class UploadService:
    def __init__(
        self,
        uploads: UploadRepository,
        incoming: Store,
        stores: StoreRegistry,
        keys: KeyRing,
        imports: ImportService,
        ttl_seconds: int,
    ) -> None:
        self._uploads = uploads
        self._incoming = incoming
        self._stores = stores
        self._keys = keys
        self._imports = imports
        self._ttl = timedelta(seconds=ttl_seconds)

    def announce(
        self, principal: Principal, dataset: str, file_name: str, size: int
    ) -> AnnouncedUpload:
        """Record an upload to come and hand out where to send it."""
        self._imports.check_dataset(dataset)
        if size < 1:
            raise Unprocessable("The file is empty", code="empty_file")
        if size > self._imports.max_upload_bytes:
            raise PayloadTooLarge(
                f"The file is larger than the maximum of {self._imports.max_upload_bytes} bytes"
            )
        upload_id = new_id()
        key = f"{upload_id}/upload"
        now = datetime.now(UTC)
        expires_at = now + self._ttl
        target = self._incoming.presigned_put(key, expires_at)
        if target is None:
            raise Unprocessable(
                "Direct uploads need an object store as the incoming store; "
                "upload through POST /api/v1/imports instead",
                code="direct_upload_unavailable",
            )
        self._uploads.add(
            UploadRecord(
                id=upload_id,
                owner=principal.user,
                tenant=principal.tenant,
                dataset=dataset,
                file_name=clean_file_name(file_name),
                size=size,
                object_ref=self._keys.encrypt(self._incoming.ref(key).to_json()),
                status="pending",
                job_id=None,
                created_at=now,
                expires_at=expires_at,
            )
        )
        return AnnouncedUpload(upload_id, target, expires_at)

    def complete(self, principal: Principal, upload_id: str, origin: Origin | None = None) -> Job:
        """Start the import of an uploaded object; completing twice gives the same job."""
        record = self._uploads.get(upload_id)
        if record is None or (record.owner, record.tenant) != (principal.user, principal.tenant):
            raise NotFound(f"No upload {upload_id!r}", code="upload_not_found")
        if record.status == COMPLETED and record.job_id:
            return self._imports_job(principal, record.job_id)
        if record.status == EXPIRED or record.expires_at <= datetime.now(UTC):
            raise Gone("The upload expired before it was completed", code="upload_expired")
        ref = StoredRef.from_json(self._keys.decrypt(record.object_ref))
        store = self._stores.for_ref(ref)
        try:
            size = store.size(ref.key)
        except FileNotFoundError as error:
            raise Conflict(
                "Nothing has been uploaded to the upload URL yet", code="upload_missing"
            ) from error
        if size != record.size:
            raise Unprocessable(
                f"The uploaded file has {size} bytes, not the {record.size} announced",
                code="size_mismatch",
            )
        job_id = new_id()
        if not self._uploads.claim(upload_id, job_id):
            return self.complete(principal, upload_id, origin)  # completed meanwhile
        try:
            return self._imports.submit_stored(
                principal,
                ref,
                size,
                record.dataset,
                record.file_name,
                origin,
                job_id=job_id,
                details={"upload_id": upload_id},
            )
        except Exception:
            self._uploads.release(upload_id, job_id)
            raise

    def _imports_job(self, principal: Principal, job_id: str) -> Job:
        return self._imports.job(principal, job_id)

    def expire_overdue(self, now: datetime | None = None) -> int:
        """Expire uploads past their time and delete whatever was uploaded for them."""
        expired = 0
        for record in self._uploads.overdue(now or datetime.now(UTC)):
            if not self._uploads.expire(record.id):
                continue
            ref = StoredRef.from_json(self._keys.decrypt(record.object_ref))
            try:
                self._stores.for_ref(ref).delete(ref.key)
            except Exception:
                log.exception("could not delete the object of expired upload %s", record.id)
            expired += 1
        return expired
