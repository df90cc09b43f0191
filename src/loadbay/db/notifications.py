"""Every notification delivery attempt, successful or not."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import RowMapping

from loadbay.db.tables import notification_attempts
from loadbay.notifiers import AttemptRecord


class AttemptRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, record: AttemptRecord, job_id: str | None, event: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                insert(notification_attempts).values(
                    notification_id=record.notification_id,
                    job_id=job_id,
                    event=event,
                    channel=record.channel,
                    target=record.target[:500],
                    attempt=record.attempt,
                    ok=record.ok,
                    status=record.status,
                    error=record.error,
                    at=record.at,
                )
            )

    def for_job(self, job_id: str) -> list[RowMapping]:
        """The job's attempts, in the order they were made."""
        query = (
            select(notification_attempts)
            .where(notification_attempts.c.job_id == job_id)
            .order_by(notification_attempts.c.id)
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query).mappings())
