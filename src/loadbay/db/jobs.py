"""The jobs repository: every read and write of the ``jobs`` table.

State changes are compare-and-set (``WHERE status IN (...)``), so a cancel that
lands while a worker runs is never overwritten by the worker.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, case, func, insert, select, union, update
from sqlalchemy.engine import RowMapping

from loadbay.db.tables import job_shares, jobs
from loadbay.domain.jobs import (
    Counts,
    Job,
    JobError,
    JobKind,
    JobStatus,
    Progress,
    ScanRecord,
    ScanVerdict,
    sources_of,
)
from loadbay.domain.principals import Principal


@dataclass(frozen=True)
class JobFilter:
    kind: JobKind | None = None
    status: JobStatus | None = None
    dataset: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_job(row: RowMapping) -> Job:
    error = JobError(row["error_code"], row["error_message"] or "") if row["error_code"] else None
    created_at = _utc(row["created_at"])
    assert created_at is not None
    return Job(
        id=row["id"],
        kind=JobKind(row["kind"]),
        status=JobStatus(row["status"]),
        owner=row["owner"],
        tenant=row["tenant"],
        dataset=row["dataset"],
        file_name=row["file_name"],
        file_size=row["file_size"],
        created_at=created_at,
        progress=Progress(row["processed"], row["total"]),
        counts=Counts(row["success"], row["failure"]),
        error=error,
        started_at=_utc(row["started_at"]),
        finished_at=_utc(row["finished_at"]),
        has_result=row["result_ref"] is not None and row["result_deleted_at"] is None,
        expires_at=_utc(row["expires_at"]),
        scan=ScanRecord(
            ScanVerdict(row["scan_verdict"]),
            row["scan_signature"],
            row["scan_engine"],
            _utc(row["scanned_at"]),
        )
        if row["scan_verdict"]
        else None,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _filtered(query: Select[Any], filters: JobFilter, before_id: str | None) -> Select[Any]:
    if filters.kind:
        query = query.where(jobs.c.kind == filters.kind.value)
    if filters.status:
        query = query.where(jobs.c.status == filters.status.value)
    if filters.dataset:
        query = query.where(jobs.c.dataset == filters.dataset)
    if filters.created_after:
        query = query.where(jobs.c.created_at > filters.created_after)
    if filters.created_before:
        query = query.where(jobs.c.created_at < filters.created_before)
    if before_id:
        query = query.where(jobs.c.id < before_id)
    return query


class JobRepository:
    """Jobs in the service database. Storage references are stored as given (encrypted)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self,
        job: Job,
        source_ref: str | None,
        params: dict[str, Any] | None = None,
        shared_with: Collection[str] = (),
    ) -> None:
        """Record a new job; ``params`` (an export's request) and the users of its tenant
        it is shared with are written in the same transaction."""
        with self._engine.begin() as connection:
            if shared_with:
                connection.execute(
                    insert(job_shares),
                    [{"job_id": job.id, "user": u, "tenant": job.tenant} for u in shared_with],
                )
            connection.execute(
                insert(jobs).values(
                    id=job.id,
                    kind=job.kind.value,
                    status=job.status.value,
                    owner=job.owner,
                    tenant=job.tenant,
                    dataset=job.dataset,
                    file_name=job.file_name,
                    file_size=job.file_size,
                    processed=0,
                    success=0,
                    failure=0,
                    attempts=0,
                    source_ref=source_ref,
                    created_at=job.created_at,
                    params=json.dumps(params) if params is not None else None,
                )
            )

    def params(self, job_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as connection:
            raw = connection.execute(select(jobs.c.params).where(jobs.c.id == job_id)).scalar()
        loaded: dict[str, Any] | None = json.loads(raw) if raw else None
        return loaded

    def shared_with(self, job_id: str) -> list[str]:
        """The users a job is shared with, by name."""
        query = select(job_shares.c.user).where(job_shares.c.job_id == job_id)
        with self._engine.connect() as connection:
            return sorted(connection.execute(query).scalars())

    def is_shared_with(self, job_id: str, viewer: Principal) -> bool:
        query = select(job_shares.c.job_id).where(
            job_shares.c.job_id == job_id,
            job_shares.c.user == viewer.user,
            job_shares.c.tenant == viewer.tenant,
        )
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    def get(self, job_id: str) -> Job | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return _to_job(row) if row else None

    def refs(self, job_id: str) -> tuple[str | None, str | None]:
        """The encrypted (source, result) references of a job."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(jobs.c.source_ref, jobs.c.result_ref).where(jobs.c.id == job_id)
            ).first()
        return (row[0], row[1]) if row else (None, None)

    def list_visible(
        self, viewer: Principal, filters: JobFilter, limit: int, before_id: str | None
    ) -> list[Job]:
        """Up to ``limit`` jobs ``viewer`` may see, newest first, older than ``before_id``."""

        def filtered(query: Select[Any]) -> Select[Any]:
            return _filtered(query, filters, before_id).order_by(jobs.c.id.desc()).limit(limit)

        if viewer.sees_every_tenant:
            query = filtered(select(jobs))
        elif viewer.is_admin:
            query = filtered(select(jobs).where(jobs.c.tenant == viewer.tenant))
        else:
            # Their own jobs and those shared with them: each branch walks its own index
            # ((tenant, owner, id) and job_shares' (tenant, user, job_id)) for at most
            # ``limit`` ids; an OR in one query would walk the whole tenant.
            own = filtered(
                select(jobs.c.id).where(jobs.c.tenant == viewer.tenant, jobs.c.owner == viewer.user)
            ).subquery()
            shared = filtered(
                select(jobs.c.id)
                .join(job_shares, job_shares.c.job_id == jobs.c.id)
                .where(job_shares.c.tenant == viewer.tenant, job_shares.c.user == viewer.user)
            ).subquery()
            ids = union(select(own.c.id), select(shared.c.id)).subquery()
            query = (
                select(jobs)
                .where(jobs.c.id.in_(select(ids.c.id)))
                .order_by(jobs.c.id.desc())
                .limit(limit)
            )
        with self._engine.connect() as connection:
            return [_to_job(row) for row in connection.execute(query).mappings()]

    def transition(self, job_id: str, target: JobStatus, **fields: Any) -> bool:
        """Move the job to ``target`` if its current status allows it; False if not."""
        values: dict[str, Any] = {"status": target.value, **fields}
        if target.ended:
            values.setdefault("finished_at", _now())
        allowed = [s.value for s in sources_of(target)]
        statement = (
            update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(allowed)).values(**values)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def start_attempt(self, job_id: str, status: JobStatus) -> bool:
        """Enter ``status`` for a new attempt: count it, stamp ``started_at`` the first time."""
        return self.transition(
            job_id,
            status,
            attempts=jobs.c.attempts + 1,
            started_at=func.coalesce(jobs.c.started_at, _now()),
        )

    def fail(self, job_id: str, error: JobError, status: JobStatus = JobStatus.FAILED) -> bool:
        return self.transition(job_id, status, error_code=error.code, error_message=error.message)

    def record_progress(
        self,
        job_id: str,
        progress: Progress,
        counts: Counts,
        running: Sequence[JobStatus] = (JobStatus.PROCESSING,),
    ) -> bool:
        """Store progress if the job still runs. Rows never go down (a resumed run starts
        over from row one), but rows replace the bytes counted while the row count
        (``total``) was unknown. Returns False when the job has ended meanwhile."""

        def at_least(column: Any, value: int) -> Any:
            return case((jobs.c.total.is_(None), value), (column < value, value), else_=column)

        statement = (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_([s.value for s in running]))
            .values(
                processed=at_least(jobs.c.processed, progress.processed),
                total=func.coalesce(progress.total, jobs.c.total),
                success=at_least(jobs.c.success, counts.success),
                failure=at_least(jobs.c.failure, counts.failure),
            )
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def record_scan(self, job_id: str, scan: ScanRecord) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    scan_verdict=scan.verdict.value,
                    scan_signature=scan.signature,
                    scan_engine=scan.engine,
                    scanned_at=scan.scanned_at,
                )
            )

    def set_source(self, job_id: str, source_ref: str) -> None:
        """Point the job at where its uploaded file lives now."""
        with self._engine.begin() as connection:
            connection.execute(
                update(jobs).where(jobs.c.id == job_id).values(source_ref=source_ref)
            )

    def complete(
        self,
        job_id: str,
        progress: Progress,
        counts: Counts,
        result_ref: str,
        expires_at: datetime | None = None,
    ) -> bool:
        """Mark the job completed with its exact counts and result; False if it had ended."""
        return self.transition(
            job_id,
            JobStatus.COMPLETED,
            processed=progress.processed,
            total=progress.total,
            success=counts.success,
            failure=counts.failure,
            result_ref=result_ref,
            expires_at=expires_at,
        )

    def status_of(self, job_id: str) -> JobStatus | None:
        """The job's status alone (one indexed read: cheap enough for every batch)."""
        query = select(jobs.c.status).where(jobs.c.id == job_id)
        with self._engine.connect() as connection:
            status = connection.execute(query).scalar()
        return None if status is None else JobStatus(status)

    def is_completed(self, job_id: str) -> bool:
        return self.status_of(job_id) is JobStatus.COMPLETED

    def expired_results(self, now: datetime, limit: int = 100) -> list[str]:
        """Jobs whose result expired and is still stored, oldest expiry first."""
        query = (
            select(jobs.c.id)
            .where(
                jobs.c.expires_at <= now,
                jobs.c.result_ref.is_not(None),
                jobs.c.result_deleted_at.is_(None),
            )
            .order_by(jobs.c.expires_at)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def mark_result_deleted(self, job_id: str, at: datetime) -> bool:
        """Record that the result file is gone; False if another sweep did it first."""
        statement = (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.result_deleted_at.is_(None))
            .values(result_deleted_at=at)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount == 1
