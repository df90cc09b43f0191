"""The bucket events repository: every read and write of the ``bucket_events`` table.

S3, MinIO and Ceph deliver event notifications at least once and in no particular order,
so the same object-created event can arrive twice, even at the same moment on two
consumers. The table's primary key is the event's identity: whoever inserts the row first
owns the event and starts its job; every other delivery hits the key and is a duplicate.
That holds on SQLite and PostgreSQL alike without locks or ``ON CONFLICT`` dialects.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from loadbay.db.tables import bucket_events, jobs


class BucketEventRepository:
    """Claims on bucket events, one row per event identity."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, identity: str, job_id: str, now: datetime | None = None) -> bool:
        """Record the event for ``job_id``; False if it was already recorded.

        The insert either creates the row or violates the primary key; catching the
        integrity error (rather than checking first) is what makes two concurrent
        deliveries start one job.
        """
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(bucket_events).values(
                        identity=identity, job_id=job_id, received_at=now or datetime.now(UTC)
                    )
                )
        except IntegrityError:
            return False
        return True

    def take_over(
        self, identity: str, job_id: str, stale_before: datetime, now: datetime | None = None
    ) -> bool:
        """Re-claim an event whose claim is older than ``stale_before`` and never became a
        job (the process died between the claim and the job's insert); False otherwise.

        One conditional UPDATE: concurrent take-overs serialize on the row, and the loser
        sees the fresh ``received_at`` and updates nothing.
        """
        has_job = exists(select(jobs.c.id).where(jobs.c.id == bucket_events.c.job_id))
        with self._engine.begin() as connection:
            result = connection.execute(
                update(bucket_events)
                .where(
                    bucket_events.c.identity == identity,
                    bucket_events.c.received_at < stale_before,
                    ~has_job,
                )
                .values(job_id=job_id, received_at=now or datetime.now(UTC))
            )
        return result.rowcount == 1

    def release(self, identity: str, job_id: str) -> None:
        """Forget a claim whose job could not be created, so a redelivery tries again."""
        with self._engine.begin() as connection:
            connection.execute(
                delete(bucket_events).where(
                    bucket_events.c.identity == identity, bucket_events.c.job_id == job_id
                )
            )

    def job_of(self, identity: str) -> str | None:
        """The job the event started (or is starting), None if the event is unknown."""
        with self._engine.connect() as connection:
            value = connection.execute(
                select(bucket_events.c.job_id).where(bucket_events.c.identity == identity)
            ).scalar_one_or_none()
        return str(value) if value is not None else None
