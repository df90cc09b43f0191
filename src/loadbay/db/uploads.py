"""Direct-to-bucket uploads: announced, then completed (becoming a job) or expired."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import RowMapping

from loadbay.db.tables import uploads

PENDING = "pending"
COMPLETED = "completed"
EXPIRED = "expired"


@dataclass(frozen=True)
class UploadRecord:
    id: str
    owner: str
    tenant: str
    dataset: str
    file_name: str
    size: int
    object_ref: str  # encrypted StoredRef
    status: str
    job_id: str | None
    created_at: datetime
    expires_at: datetime


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _record(row: RowMapping) -> UploadRecord:
    return UploadRecord(
        **{k: row[k] for k in ("id", "owner", "tenant", "dataset", "file_name", "size")},
        object_ref=row["object_ref"],
        status=row["status"],
        job_id=row["job_id"],
        created_at=_utc(row["created_at"]),
        expires_at=_utc(row["expires_at"]),
    )


class UploadRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, record: UploadRecord) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(uploads).values(**vars(record)))

    def get(self, upload_id: str) -> UploadRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(uploads).where(uploads.c.id == upload_id)).mappings()
            found = row.first()
        return _record(found) if found else None

    def claim(self, upload_id: str, job_id: str) -> bool:
        """Mark a pending upload completed by ``job_id``; False if it was not pending (a
        concurrent completion won, or it expired)."""
        statement = (
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.status == PENDING)
            .values(status=COMPLETED, job_id=job_id)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def release(self, upload_id: str, job_id: str) -> None:
        """Undo :meth:`claim` when the job could not be created."""
        statement = (
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.job_id == job_id)
            .values(status=PENDING, job_id=None)
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def overdue(self, now: datetime, limit: int = 500) -> Sequence[UploadRecord]:
        query = (
            select(uploads)
            .where(uploads.c.status == PENDING, uploads.c.expires_at < now)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [_record(row) for row in connection.execute(query).mappings()]

    def expire(self, upload_id: str) -> bool:
        statement = (
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.status == PENDING)
            .values(status=EXPIRED)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount == 1
