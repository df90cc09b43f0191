"""The JSON shapes of the contract (api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer

from loadbay.domain.audit import AuditEntry
from loadbay.domain.datasets import Dataset
from loadbay.domain.jobs import Job


def _iso_utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[Any] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ProgressOut(BaseModel):
    processed: int
    total: int | None
    percent: float


class CountsOut(BaseModel):
    success: int
    failure: int


class JobErrorOut(BaseModel):
    code: str
    message: str


class ScanOut(BaseModel):
    verdict: str
    signature: str | None
    engine: str | None
    scanned_at: Timestamp | None


class JobOut(BaseModel):
    id: str
    kind: str
    dataset: str | None
    status: str
    owner: str
    tenant: str
    file_name: str | None
    file_size: int | None
    progress: ProgressOut
    counts: CountsOut
    error: JobErrorOut | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    result_available: bool
    scan: ScanOut | None = None
    expires_at: Timestamp | None = None  # an export's: its file is deleted then

    @classmethod
    def of(cls, job: Job) -> JobOut:
        progress = job.progress
        if progress.total is None:
            # Rows are counted once the file is read; until then, bytes read. The
            # percent stays 0 until rows are known, so that it never goes down.
            shown = ProgressOut(processed=progress.processed, total=job.file_size, percent=0.0)
        else:
            shown = ProgressOut(
                processed=progress.processed,
                total=progress.total,
                percent=progress.percent(job.status),
            )
        return cls(
            id=job.id,
            kind=job.kind.value,
            dataset=job.dataset,
            status=job.status.value,
            owner=job.owner,
            tenant=job.tenant,
            file_name=job.file_name,
            file_size=job.file_size,
            progress=shown,
            counts=CountsOut(success=job.counts.success, failure=job.counts.failure),
            error=JobErrorOut(code=job.error.code, message=job.error.message)
            if job.error
            else None,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            result_available=job.result_available,
            scan=ScanOut(
                verdict=job.scan.verdict.value,
                signature=job.scan.signature,
                engine=job.scan.engine,
                scanned_at=job.scan.scanned_at,
            )
            if job.scan
            else None,
            expires_at=job.expires_at,
        )


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class ResultLinkOut(BaseModel):
    url: str
    expires_at: Timestamp
    file_name: str


class ColumnOut(BaseModel):
    key: str
    label: str
    type: str
    required: bool


class DatasetOut(BaseModel):
    name: str
    title: str
    columns: list[ColumnOut]

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetOut:
        return cls(
            name=dataset.name,
            title=dataset.title,
            columns=[
                ColumnOut(key=c.key, label=c.label, type=c.type.value, required=c.required)
                for c in dataset.columns
            ],
        )


class DatasetList(BaseModel):
    items: list[DatasetOut]


class Health(BaseModel):
    status: str


class AuditEntryOut(BaseModel):
    id: str
    at: Timestamp
    actor: str
    tenant: str
    action: str
    job_id: str | None
    client: str | None
    user_agent: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            tenant=entry.tenant,
            action=entry.action.value,
            job_id=entry.job_id,
            client=entry.origin.client,
            user_agent=entry.origin.user_agent,
            details=dict(entry.details),
        )


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None
