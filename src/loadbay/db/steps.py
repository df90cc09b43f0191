"""The steps repository: every read and write of ``job_steps`` (see ``domain/steps.py``).

Each state change is a compare-and-set, so two workers handed the same step (a broker
redelivering a message while the first worker still runs, say) never both run it: the
claim that wins takes the lease, the other finds nothing to claim. Phase changes take
the job's row lock first, so that of two steps finishing at the same moment exactly one
sees its phase complete and makes the next one ready.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import RowMapping

from loadbay.db.tables import job_steps, jobs
from loadbay.domain.jobs import ACTIVE_STATUSES, JobKind
from loadbay.domain.steps import NewStep, Step, StepResult, StepState

_PENDING = StepState.PENDING.value
_RUNNING = StepState.RUNNING.value
_DONE = StepState.DONE.value
_DEAD = StepState.DEAD.value
_MOST_DOUBLED_SENDS = 6  # the resend wait doubles up to 32 x redeliver_after


def _now() -> datetime:
    return datetime.now(UTC)


def _to_step(row: RowMapping) -> Step:
    return Step(
        job_id=row["job_id"],
        name=row["name"],
        phase=row["phase"],
        state=StepState(row["state"]),
        attempts=row["attempts"],
        spec=json.loads(row["spec"] or "{}"),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        processed=row["processed"],
        success=row["success"],
        failure=row["failure"],
    )


class ClaimRefused(Enum):
    """Why a claim took nothing: nothing to do now, or the step is out of attempts."""

    NOTHING = "nothing"  # done, not ready, held under a live lease, or gone
    EXHAUSTED = "exhausted"  # it has failed ``max_attempts`` times: now dead


@dataclass(frozen=True)
class Lease:
    job_id: str
    name: str
    owner: str


class StepRepository:
    """Steps in the service database; specs and results are JSON of plain data."""

    def __init__(self, engine: Engine, lease_seconds: float, max_attempts: int) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts

    # --- creating and replacing ---------------------------------------------------------

    def seed(self, job_id: str, steps: Sequence[NewStep]) -> bool:
        """Record the first steps of a job that has none; False if it already has some."""
        with self._engine.begin() as connection:
            _lock_job(connection, job_id)
            found = connection.execute(
                select(func.count()).select_from(job_steps).where(job_steps.c.job_id == job_id)
            ).scalar_one()
            if found:
                return False
            _insert(connection, job_id, steps)
            _make_ready(connection, job_id)
        return True

    # --- one attempt ------------------------------------------------------------------

    def claim(self, job_id: str, name: str, owner: str) -> Step | ClaimRefused:
        """Take the step for one attempt under a lease: a ready pending step, or a
        running one whose lease has expired (its worker died)."""
        now = _now()
        claimable = and_(
            job_steps.c.job_id == job_id,
            job_steps.c.name == name,
            or_(
                and_(job_steps.c.state == _PENDING, job_steps.c.ready_at <= now),
                and_(job_steps.c.state == _RUNNING, job_steps.c.lease_expires_at < now),
            ),
        )
        with self._engine.begin() as connection:
            taken = connection.execute(
                update(job_steps)
                .where(claimable, job_steps.c.attempts < self.max_attempts)
                .values(
                    state=_RUNNING,
                    attempts=job_steps.c.attempts + 1,
                    lease_owner=owner,
                    lease_expires_at=now + self._lease,
                    updated_at=now,
                )
            ).rowcount
            if not taken:
                exhausted = connection.execute(
                    update(job_steps).where(claimable).values(state=_DEAD, updated_at=now)
                ).rowcount
                return ClaimRefused.EXHAUSTED if exhausted else ClaimRefused.NOTHING
            row = connection.execute(_select_step(job_id, name)).mappings().one()
        return _to_step(row)

    def renew(self, lease: Lease) -> bool:
        """Extend the lease; False when it was lost (expired and taken by another)."""
        now = _now()
        with self._engine.begin() as connection:
            return bool(
                connection.execute(
                    update(job_steps)
                    .where(*_held(lease))
                    .values(lease_expires_at=now + self._lease, updated_at=now)
                ).rowcount
            )

    def record_progress(self, lease: Lease, processed: int, success: int, failure: int) -> bool:
        with self._engine.begin() as connection:
            return bool(
                connection.execute(
                    update(job_steps)
                    .where(*_held(lease))
                    .values(processed=processed, success=success, failure=failure)
                ).rowcount
            )

    def complete(
        self,
        lease: Lease,
        result: StepResult,
        new_steps: Sequence[NewStep] = (),
        replace_from_phase: int | None = None,
    ) -> list[str] | None:
        """Mark the step done with its result, add ``new_steps`` (after deleting every
        step from ``replace_from_phase`` on, when given); return the steps that became
        ready, or None when the lease was lost and nothing was recorded."""
        now = _now()
        with self._engine.begin() as connection:
            _lock_job(connection, lease.job_id)
            done = connection.execute(
                update(job_steps)
                .where(*_held(lease))
                .values(
                    state=_DONE,
                    result=json.dumps(result.data),
                    success=result.success,
                    failure=result.failure,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
            ).rowcount
            if not done:
                return None
            if replace_from_phase is not None:
                connection.execute(
                    delete(job_steps).where(
                        job_steps.c.job_id == lease.job_id,
                        job_steps.c.phase >= replace_from_phase,
                    )
                )
            _insert(connection, lease.job_id, new_steps)
            return _make_ready(connection, lease.job_id)

    def release(self, lease: Lease, error: str, retry_in: float) -> bool:
        """A failed attempt: the step waits ``retry_in`` seconds, then runs again.
        Returns False when it is out of attempts (it is then dead)."""
        now = _now()
        with self._engine.begin() as connection:
            step = connection.execute(_select_step(lease.job_id, lease.name)).mappings().first()
            if step is None or step["lease_owner"] != lease.owner:
                return True  # lost the lease: its new holder decides
            exhausted = step["attempts"] >= self.max_attempts
            connection.execute(
                update(job_steps)
                .where(*_held(lease))
                .values(
                    state=_DEAD if exhausted else _PENDING,
                    ready_at=now + timedelta(seconds=retry_in),
                    enqueued_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    error=error[:4000],
                    updated_at=now,
                )
            )
            return not exhausted

    def hand_back(self, lease: Lease) -> None:
        """The process is stopping: give the step back at once, the attempt uncounted."""
        now = _now()
        with self._engine.begin() as connection:
            connection.execute(
                update(job_steps)
                .where(*_held(lease))
                .values(
                    state=_PENDING,
                    attempts=job_steps.c.attempts - 1,
                    ready_at=now,
                    enqueued_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
            )

    # --- reading ------------------------------------------------------------------------

    def get(self, job_id: str, name: str) -> Step | None:
        with self._engine.connect() as connection:
            row = connection.execute(_select_step(job_id, name)).mappings().first()
        return _to_step(row) if row else None

    def of_job(self, job_id: str, phase: int | None = None) -> list[Step]:
        """The job's steps (of one phase), in name order."""
        query = select(job_steps).where(job_steps.c.job_id == job_id)
        if phase is not None:
            query = query.where(job_steps.c.phase == phase)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(job_steps.c.name)).mappings().all()
        return [_to_step(row) for row in rows]

    def ready_names(self, job_id: str) -> list[str]:
        """The job's pending steps that may run now, in name order."""
        query = (
            select(job_steps.c.name)
            .where(
                job_steps.c.job_id == job_id,
                job_steps.c.state == _PENDING,
                job_steps.c.ready_at <= _now(),
            )
            .order_by(job_steps.c.name)
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def totals(self, job_id: str, phase: int) -> tuple[int, int, int]:
        """Sums of (processed, success, failure) over the steps of one phase."""
        query = select(
            func.coalesce(func.sum(job_steps.c.processed), 0),
            func.coalesce(func.sum(job_steps.c.success), 0),
            func.coalesce(func.sum(job_steps.c.failure), 0),
        ).where(job_steps.c.job_id == job_id, job_steps.c.phase == phase)
        with self._engine.connect() as connection:
            processed, success, failure = connection.execute(query).one()
        return int(processed), int(success), int(failure)

    def dead_step(self, job_id: str) -> Step | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    select(job_steps).where(
                        job_steps.c.job_id == job_id, job_steps.c.state == _DEAD
                    )
                )
                .mappings()
                .first()
            )
        return _to_step(row) if row else None

    # --- delivery and recovery ----------------------------------------------------------

    def take_unsent(self, job_id: str, names: Sequence[str] | None = None) -> list[str]:
        """Mark the job's ready steps that were never sent (of ``names``, when given) as
        sent now, and return them in name order: of the runner and a sweep that look
        at once, only one sends each."""
        now = _now()
        conditions = [
            job_steps.c.job_id == job_id,
            job_steps.c.state == _PENDING,
            job_steps.c.ready_at <= now,
            job_steps.c.enqueued_at.is_(None),
        ]
        if names is not None:
            if not names:
                return []
            conditions.append(job_steps.c.name.in_(list(names)))
        with self._engine.begin() as connection:
            taken = connection.execute(
                update(job_steps)
                .where(*conditions)
                .values(enqueued_at=now, sends=1)
                .returning(job_steps.c.name)
            ).scalars()
            return sorted(taken)

    def unsend(self, job_id: str, names: Sequence[str]) -> None:
        """Clear the sent mark of steps whose send failed: the next sweep sends them."""
        with self._engine.begin() as connection:
            connection.execute(
                update(job_steps)
                .where(job_steps.c.job_id == job_id, job_steps.c.name.in_(list(names)))
                .values(enqueued_at=None)
            )

    def take_due(self, redeliver_after: float, limit: int = 500) -> list[tuple[str, str]]:
        """Steps that should be running but may have no message on the way: ready and
        never enqueued (a process died between the commit and the send), enqueued a
        while ago without being claimed (the broker lost the message), or running under
        an expired lease (the worker died). Each is marked enqueued as it is taken, so
        that of several sweepers one sends it, in name order.

        A waiting step is sent again ``redeliver_after`` seconds after it was sent, then
        after twice that, four times, up to 32 times: a deep backlog, whose messages are
        all there but wait their turn, is sent again a few times, not every period."""
        now = _now()
        sends = job_steps.c.sends
        not_sent = job_steps.c.enqueued_at.is_(None)
        waiting = and_(
            job_steps.c.state == _PENDING,
            job_steps.c.ready_at <= now,
            or_(not_sent, _resend_due(now, redeliver_after)),
        )
        # Its worker died: the lease expired, and the step was not sent since (or long ago).
        stale = now - timedelta(seconds=redeliver_after)
        abandoned = and_(
            job_steps.c.state == _RUNNING,
            job_steps.c.lease_expires_at < now,
            or_(
                not_sent,
                job_steps.c.enqueued_at < stale,
                job_steps.c.enqueued_at < job_steps.c.lease_expires_at,
            ),
        )
        due = or_(waiting, abandoned)
        candidates = (
            select(job_steps.c.job_id, job_steps.c.name)
            .where(due)
            .order_by(job_steps.c.job_id, job_steps.c.name)
            .limit(limit)
            # PostgreSQL: rows another sweeper is taking are skipped, not waited for
            # (nor deadlocked on); SQLite has one writer at a time anyway.
            .with_for_update(skip_locked=True)
        )
        # One statement; ``due`` is checked again on each row it updates, so that of
        # sweepers racing for a step only one marks (and sends) it.
        with self._engine.begin() as connection:
            taken = connection.execute(
                update(job_steps)
                .where(tuple_(job_steps.c.job_id, job_steps.c.name).in_(candidates), due)
                .values(
                    enqueued_at=now,
                    # A waiting step sent before counts one more send; else the first.
                    sends=case(
                        (and_(job_steps.c.state == _PENDING, ~not_sent), sends + 1), else_=1
                    ),
                )
                .returning(job_steps.c.job_id, job_steps.c.name)
            ).all()
        return sorted((job_id, name) for job_id, name in taken)

    def expire_leases(self, owner_prefix: str) -> int:
        """End the leases of a process that has stopped (its steps become due at once)."""
        with self._engine.begin() as connection:
            return int(
                connection.execute(
                    update(job_steps)
                    .where(
                        job_steps.c.state == _RUNNING,
                        job_steps.c.lease_owner.startswith(owner_prefix, autoescape=True),
                    )
                    .values(lease_expires_at=_now() - timedelta(seconds=1), enqueued_at=None)
                ).rowcount
            )

    def unsend_waiting(self) -> int:
        """Clear the sent mark of every waiting step: for a process that runs every step
        itself, starting (nothing it had queued in memory survived its stop)."""
        with self._engine.begin() as connection:
            return int(
                connection.execute(
                    update(job_steps)
                    .where(job_steps.c.state == _PENDING, job_steps.c.enqueued_at.is_not(None))
                    .values(enqueued_at=None)
                ).rowcount
            )

    def jobs_without_steps(self, kinds: Sequence[JobKind]) -> list[str]:
        """Unfinished jobs that have no steps yet (recorded by a process that stopped
        before it could add them, or by a version before steps)."""
        has_steps = select(job_steps.c.job_id).where(job_steps.c.job_id == jobs.c.id).exists()
        query = (
            select(jobs.c.id)
            .where(jobs.c.status.in_([s.value for s in ACTIVE_STATUSES]))
            .where(jobs.c.kind.in_([k.value for k in kinds]))
            .where(~has_steps)
            .order_by(jobs.c.id)
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def active_jobs_with_dead_steps(self, kinds: Sequence[JobKind]) -> list[str]:
        """Unfinished jobs with a dead step: the process that recorded it dead stopped
        before it could fail the job, which would otherwise wait forever."""
        query = (
            select(job_steps.c.job_id)
            .join(jobs, jobs.c.id == job_steps.c.job_id)
            .where(job_steps.c.state == _DEAD)
            .where(jobs.c.status.in_([s.value for s in ACTIVE_STATUSES]))
            .where(jobs.c.kind.in_([k.value for k in kinds]))
            .distinct()
            .order_by(job_steps.c.job_id)
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def forget(self, job_id: str, keep_dead: bool = True) -> None:
        """Drop the steps of an ended job (a dead step stays, as the dead letter)."""
        statement = delete(job_steps).where(job_steps.c.job_id == job_id)
        if keep_dead:
            statement = statement.where(job_steps.c.state != _DEAD)
        with self._engine.begin() as connection:
            connection.execute(statement)

    def ended_jobs_with_steps(self) -> list[str]:
        """Ended jobs that still have steps to drop. A job with a step running under a
        live lease is left to that step's runner: the step that ended the job (a
        finalize) still has its result to record, and forgetting its step under it
        would drop that result."""
        ended = select(jobs.c.id).where(jobs.c.status.not_in([s.value for s in ACTIVE_STATUSES]))
        running = select(job_steps.c.job_id).where(
            job_steps.c.state == _RUNNING, job_steps.c.lease_expires_at >= _now()
        )
        query = (
            select(job_steps.c.job_id)
            .where(
                job_steps.c.job_id.in_(ended),
                job_steps.c.job_id.not_in(running),
                job_steps.c.state != _DEAD,
            )
            .distinct()
        )
        with self._engine.connect() as connection:
            return list(connection.execute(query).scalars())


def _resend_due(now: datetime, redeliver_after: float) -> Any:
    """A waiting step sent ``n`` times is due again ``redeliver_after * 2**(n-1)``
    seconds after its last send (the wait stops growing at the sixth send)."""
    sends = job_steps.c.sends
    clauses = []
    for n in range(1, _MOST_DOUBLED_SENDS + 1):
        if n == 1:
            count = sends <= 1  # 0: sent before this column existed
        elif n == _MOST_DOUBLED_SENDS:
            count = sends >= n
        else:
            count = sends == n
        since = now - timedelta(seconds=redeliver_after * 2 ** (n - 1))
        clauses.append(and_(count, job_steps.c.enqueued_at < since))
    return or_(*clauses)


def _select_step(job_id: str, name: str) -> Any:
    return select(job_steps).where(job_steps.c.job_id == job_id, job_steps.c.name == name)


def _held(lease: Lease) -> tuple[Any, ...]:
    return (
        job_steps.c.job_id == lease.job_id,
        job_steps.c.name == lease.name,
        job_steps.c.state == _RUNNING,
        job_steps.c.lease_owner == lease.owner,
    )


def _lock_job(connection: Connection, job_id: str) -> None:
    """Take the job row's write lock for the rest of the transaction (PostgreSQL row
    lock; SQLite's BEGIN IMMEDIATE already holds the database's)."""
    connection.execute(update(jobs).where(jobs.c.id == job_id).values(id=jobs.c.id))


def _insert(connection: Connection, job_id: str, steps: Sequence[NewStep]) -> None:
    if not steps:
        return
    now = _now()
    connection.execute(
        insert(job_steps),
        [
            {
                "job_id": job_id,
                "name": step.name,
                "phase": step.phase,
                "state": _PENDING,
                "ready_at": None,
                "attempts": 0,
                "sends": 0,
                "processed": 0,
                "success": 0,
                "failure": 0,
                "spec": json.dumps(step.spec),
                "updated_at": now,
            }
            for step in steps
        ],
    )


def _make_ready(connection: Connection, job_id: str) -> list[str]:
    """Make ready the waiting steps of the first phase that is not done; their names."""
    lowest = connection.execute(
        select(func.min(job_steps.c.phase)).where(
            job_steps.c.job_id == job_id, job_steps.c.state != _DONE
        )
    ).scalar_one_or_none()
    if lowest is None:
        return []
    waiting = and_(
        job_steps.c.job_id == job_id,
        job_steps.c.phase == lowest,
        job_steps.c.state == _PENDING,
        job_steps.c.ready_at.is_(None),
    )
    names = list(
        connection.execute(select(job_steps.c.name).where(waiting).order_by(job_steps.c.name))
        .scalars()
        .all()
    )
    if names:
        connection.execute(update(job_steps).where(waiting).values(ready_at=_now()))
    return names
