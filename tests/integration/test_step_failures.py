"""Steps that fail, end to end through real services (SQLite, and PostgreSQL with
``LOADBAY_TEST_DB=postgresql``), driven by hand: the manual executor runs the steps
sent, and the recovery sweep resends those that are due again.

The target table rejects one row (a trigger on SQLite, a CHECK constraint on
PostgreSQL), so the chunk that holds it fails every attempt: after ``max_attempts`` the
step is dead and the job fails with ``step_failed``. A failure that goes away costs one
more attempt and nothing else; a worker that stops mid-step hands the step back, and
another process completes it; a step left dead by a process that stopped before failing
its job is failed by the sweep.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from loadbay.bootstrap import Services
from loadbay.db.steps import Lease
from loadbay.domain.jobs import Job, JobStatus
from loadbay.domain.steps import ImportPhase, Step, StepState
from loadbay.executors.manual import ManualExecutor
from loadbay.pipeline.split import Chunk
from loadbay.sinks.sql_table import SqlTarget
from tests.helpers import (
    csv_bytes,
    objects,
    report_rows,
    running_services,
    submit,
    table_count,
    target_rows,
)

pytestmark = pytest.mark.db

MAX_ATTEMPTS = 3
EXECUTOR = {
    "max_attempts": MAX_ATTEMPTS,
    "retry_delay_seconds": 0,
    "lease_seconds": 5,
    "chunk_bytes": 1024,
    "batch_rows": 10,
    # The background sweep runs once at start; the tests sweep by hand.
    "sweep_interval_seconds": 3600,
}
USER_HEADER = ["External ID", "First Name", "Last Name", "Email", "Phone"]
ROWS = 150
BOOM_ROW = 75  # its first name is BOOM: the target refuses it
DEADLINE = 60.0


def _user_file() -> tuple[bytes, set[str], set[str]]:
    """A users file of several chunks; the ids of its valid and invalid rows."""
    rows: list[list[str]] = [USER_HEADER]
    valid: set[str] = set()
    invalid: set[str] = set()
    for i in range(ROWS):
        external_id = f"U{i:04d}"
        first = "BOOM" if i == BOOM_ROW else f"Name{i}"
        if i % 9 == 4:  # neither email nor phone: a failure in the report
            rows.append([external_id, first, "Lee", "", ""])
            invalid.add(external_id)
        else:
            rows.append([external_id, first, "Lee", f"u{i}@example.org", ""])
            valid.add(external_id)
    assert f"U{BOOM_ROW:04d}" in valid
    return csv_bytes(rows), valid, invalid


@pytest.fixture
def services(tmp_path: Path, database_urls: tuple[str, str]) -> Iterator[Services]:
    with running_services(tmp_path, database_urls, executor=EXECUTOR) as built:
        for task in built.housekeeping:  # the sweeps' first pass, out of the tests' way
            assert task.ran_once.wait(30)
        yield built


def _refuse_boom(services: Services) -> None:
    """Create the users table as the import would, and make it refuse ``BOOM``."""
    dataset = services.datasets.get("user")
    assert dataset is not None
    SqlTarget(services.target_engine).sink(dataset)
    with services.target_engine.begin() as connection:
        if services.target_engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER no_boom BEFORE INSERT ON users "
                    "WHEN NEW.first_name = 'BOOM' BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            )
        else:
            connection.execute(
                text("ALTER TABLE users ADD CONSTRAINT no_boom CHECK (first_name <> 'BOOM')")
            )


def _accept_boom(services: Services) -> None:
    with services.target_engine.begin() as connection:
        if services.target_engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER no_boom"))
        else:
            connection.execute(text("ALTER TABLE users DROP CONSTRAINT no_boom"))


def _failed_attempts(caplog: pytest.LogCaptureFixture, job_id: str) -> list[tuple[str, int]]:
    """(step, attempt) of every failed attempt the runner logged, in order."""
    found = []
    for record in caplog.records:
        if record.name != "loadbay.pipeline.runner":
            continue
        match = re.match(rf"job {job_id} step (\S+) attempt (\d+) failed", record.getMessage())
        if match:
            found.append((match.group(1), int(match.group(2))))
    return found


def _chunks(caplog: pytest.LogCaptureFixture, job_id: str) -> int:
    for record in caplog.records:
        match = re.match(rf"job {job_id}: \d+ bytes in (\d+) chunk", record.getMessage())
        if match:
            return int(match.group(1))
    raise AssertionError("the split step logged no chunks")


def _drive(
    services: Services,
    job_id: str,
    between: Callable[[], None] | None = None,
    seconds: float = DEADLINE,
) -> Job:
    """Run sent steps and sweep, as workers and the sweep would, until the job ends.
    ``between`` runs after each round of steps."""
    executor = services.executor
    assert isinstance(executor, ManualExecutor)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.run_pending()
        job = services.job_repository.get(job_id)
        assert job is not None
        if job.status.ended:
            return job
        if between is not None:
            between()
        if not services.recovery.sweep() and not executor.pending:
            time.sleep(0.05)
    job = services.job_repository.get(job_id)
    steps = [(s.name, s.state.value, s.attempts) for s in services.step_repository.of_job(job_id)]
    pytest.fail(f"the job never ended: {job}; its steps: {steps}")


def _rows_metered(services: Services) -> tuple[float, float]:
    registry = services.metrics.process_registry
    success, failure = (
        registry.get_sample_value("loadbay_rows_total", {"dataset": "user", "outcome": o}) or 0
        for o in ("success", "failure")
    )
    return success, failure


def test_a_chunk_that_keeps_failing_fails_the_job_after_max_attempts(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loadbay")
    _refuse_boom(services)
    data, _, _ = _user_file()
    job = submit(services, "user", data)
    ended = _drive(services, job.id)

    assert _chunks(caplog, job.id) >= 3
    assert ended.status is JobStatus.FAILED
    assert ended.error is not None
    assert ended.error.code == "step_failed"
    attempts = _failed_attempts(caplog, job.id)
    assert len({name for name, _ in attempts}) == 1, attempts
    name = attempts[0][0]
    assert name.startswith("decide/")
    assert attempts == [(name, n) for n in range(1, MAX_ATTEMPTS + 1)], "exactly max_attempts"
    # The dead letter stays, and nothing else of the job.
    (dead,) = services.step_repository.of_job(job.id)
    assert (dead.name, dead.state, dead.attempts) == (name, StepState.DEAD, MAX_ATTEMPTS)
    assert services.step_repository.dead_step(job.id) == dead
    chunk = Chunk.from_json(dead.spec)
    boom_at = data.index(b"BOOM")
    assert chunk.start <= boom_at < (chunk.end or len(data)), "the chunk that holds BOOM"
    assert dead.error is not None
    assert "boom" in dead.error.lower()
    assert ended.error.message == (
        f"Importing chunk {int(name.split('/')[1]) + 1} (from row {chunk.first_row}) "
        f"failed {MAX_ATTEMPTS} times and was given up; the last attempt: {dead.error}"
    )
    # No report, no work files; the refused row never reached the target.
    assert not ended.result_available
    assert services.job_repository.refs(job.id)[1] is None
    assert objects(services, "results") == {}
    assert [k for k in objects(services, "work") if job.id in k] == []
    stored = {r["external_id"] for r in target_rows(services, "users", "external_id")}
    assert f"U{BOOM_ROW:04d}" not in stored
    # Nothing is left to run: more sweeps send nothing, and the job stays failed.
    assert services.recovery.sweep() == 0
    executor = services.executor
    assert isinstance(executor, ManualExecutor)
    executor.run_pending()
    again = services.job_repository.get(job.id)
    assert again is not None
    assert again.status is JobStatus.FAILED
    assert services.step_repository.of_job(job.id) == [dead]


def test_a_step_that_fails_once_then_succeeds_completes_the_job_exactly(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loadbay")
    _refuse_boom(services)
    data, valid, invalid = _user_file()
    job = submit(services, "user", data)
    fixed: list[bool] = []

    def fix_after_the_first_failure() -> None:
        if not fixed and _failed_attempts(caplog, job.id):
            _accept_boom(services)
            fixed.append(True)

    ended = _drive(services, job.id, between=fix_after_the_first_failure)

    assert fixed, "no attempt failed"
    (failed,) = _failed_attempts(caplog, job.id)
    assert failed[0].startswith("decide/")
    assert failed[1] == 1
    reruns = [r.getMessage() for r in caplog.records if r.getMessage().endswith(": attempt 2")]
    assert reruns == [f"job {job.id} step {failed[0]}: attempt 2"]
    assert ended.status is JobStatus.COMPLETED, ended.error
    assert (ended.counts.success, ended.counts.failure) == (len(valid), len(invalid))
    assert (ended.progress.processed, ended.progress.total) == (ROWS, ROWS)
    assert _rows_metered(services) == (len(valid), len(invalid)), "a re-run counts once"
    stored = [r["external_id"] for r in target_rows(services, "users", "external_id")]
    assert stored == sorted(valid), "every valid row once, BOOM too"
    assert table_count(services, "users") == len(valid)
    report = report_rows(services, job.id)
    ids = Counter(row[0] for row in report[1:])
    assert set(ids) == valid | invalid
    assert set(ids.values()) == {1}, "every row reported once"
    results = {row[0]: row[-2] for row in report[1:]}
    assert {i for i, r in results.items() if r == "Success"} == valid
    assert services.step_repository.of_job(job.id) == [], "a completed job keeps no steps"


def test_a_worker_that_stops_mid_step_hands_it_back_and_another_completes_it(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loadbay")
    data, valid, invalid = _user_file()
    stopped: list[Lease] = []
    with running_services(tmp_path, database_urls, executor=EXECUTOR) as first:
        job = submit(first, "user", data)
        repository = first.step_repository
        record = repository.record_progress

        def stop_after_one_batch(lease: Lease, processed: int, success: int, failure: int) -> bool:
            recorded = record(lease, processed, success, failure)
            if lease.name.startswith("decide/") and not stopped:
                stopped.append(lease)
                first.stopping.set()  # as on SIGTERM: the next check interrupts the step
            return recorded

        repository.record_progress = stop_after_one_batch  # type: ignore[method-assign]
        executor = first.executor
        assert isinstance(executor, ManualExecutor)
        executor.run_pending()
        assert stopped, "no decide step ran"
        lease = stopped[0]
        interrupted = f"job {job.id} step {lease.name} interrupted; it runs again later"
        assert interrupted in [r.getMessage() for r in caplog.records]
        step = repository.get(job.id, lease.name)
        assert step is not None
        assert (step.state, step.attempts, step.processed) == (StepState.PENDING, 0, 10)
        running = [s for s in repository.of_job(job.id) if s.state is StepState.RUNNING]
        assert running == [], "every step it ran was handed back"
        current = first.job_repository.get(job.id)
        assert current is not None
        assert current.status is JobStatus.PROCESSING
        assert not any(
            s.state is StepState.DONE for s in repository.of_job(job.id, ImportPhase.DECIDE)
        )
    caplog.clear()
    with running_services(tmp_path, database_urls, executor=EXECUTOR) as second:
        assert second.runner.owner != lease.owner
        ended = _drive(second, job.id)
        assert ended.status is JobStatus.COMPLETED, ended.error
        assert _failed_attempts(caplog, job.id) == []
        assert not [r for r in caplog.records if ": attempt 2" in r.getMessage()], (
            "a handed-back attempt is not counted"
        )
        assert f"job {job.id} step {lease.name} done" in " ".join(
            r.getMessage() for r in caplog.records
        )
        assert (ended.counts.success, ended.counts.failure) == (len(valid), len(invalid))
        assert (ended.progress.processed, ended.progress.total) == (ROWS, ROWS)
        stored = [r["external_id"] for r in target_rows(second, "users", "external_id")]
        assert stored == sorted(valid)
        report = report_rows(second, job.id)
        ids = Counter(row[0] for row in report[1:])
        assert set(ids) == valid | invalid
        assert set(ids.values()) == {1}
        assert second.step_repository.of_job(job.id) == []


def test_a_step_left_dead_by_a_process_that_stopped_before_failing_its_job(
    services: Services,
) -> None:
    """The step's last attempt was recorded dead, and its process stopped before it
    failed the job: the sweep fails the job, which would otherwise wait forever."""
    data, _, _ = _user_file()
    job = submit(services, "user", data)
    executor = services.executor
    assert isinstance(executor, ManualExecutor)
    executor.pending.clear()  # the scan step was sent to the process that stopped
    steps = services.step_repository
    lease = Lease(job.id, "scan", "stopped-host:1:abcd")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        step = steps.claim(job.id, "scan", lease.owner)
        assert isinstance(step, Step)
        assert step.attempts == attempt
        left = steps.release(lease, "RuntimeError: scanner exploded", retry_in=0)
        assert left is (attempt < MAX_ATTEMPTS)
    assert steps.dead_step(job.id) is not None
    ended = _drive(services, job.id, seconds=10)
    assert ended.status is JobStatus.FAILED
    assert ended.error is not None
    assert ended.error.code == "step_failed"
    assert ended.error.message == (
        f"The malware scan failed {MAX_ATTEMPTS} times and was given up; "
        "the last attempt: RuntimeError: scanner exploded"
    )
    assert [s.name for s in steps.of_job(job.id)] == ["scan"], "only the dead letter is kept"
    assert services.recovery.sweep() == 0


def test_a_broker_that_refuses_sends_delays_the_job_and_loses_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database is the record: a send the broker refuses (at submit, or between
    two steps) is logged and left to the sweep; the upload is kept, the job waits."""
    caplog.set_level(logging.INFO, logger="loadbay")
    executor = services.executor
    assert isinstance(executor, ManualExecutor)
    data, valid, invalid = _user_file()

    def refused(job_id: str, step: str) -> None:
        raise ConnectionError("broker down")

    with monkeypatch.context() as down:
        down.setattr(executor, "submit", refused)
        job = submit(services, "user", data)
    assert executor.pending == [], "nothing reached the broker"
    assert services.job_repository.get(job.id).status is JobStatus.RECEIVED  # type: ignore[union-attr]
    assert any(
        f"job {job.id}: sending step scan failed (broker down)" in r.getMessage()
        for r in caplog.records
    )
    assert services.recovery.sweep() == 1, "the sweep sends it at its next pass"
    assert executor.pending == [(job.id, "scan")]
    with monkeypatch.context() as down:  # scan runs; the broker refuses split
        down.setattr(executor, "submit", refused)
        executor.run_pending()
    step = services.step_repository.get(job.id, "split")
    assert step is not None
    assert step.state is StepState.PENDING, "split was never sent"
    assert executor.pending == []
    assert services.recovery.sweep() == 1, "its failed send is not taken for a sent one"

    ended = _drive(services, job.id)
    assert ended.status is JobStatus.COMPLETED
    assert (ended.counts.success, ended.counts.failure) == (len(valid), len(invalid))
    users = {row["external_id"] for row in target_rows(services, "users", "external_id")}
    assert users == valid


def test_a_restarted_in_process_service_runs_the_steps_it_had_queued_at_once(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    """The in-process executor's queue is in memory: steps sent to it before a stop are
    due again as soon as the next process starts, not ``redeliver_after`` later."""
    data, valid, _ = _user_file()
    settings = {**EXECUTOR, "redeliver_after_seconds": 3600}
    with running_services(tmp_path, database_urls, executor=settings) as first:
        job = submit(first, "user", data)
        executor = first.executor
        assert isinstance(executor, ManualExecutor)
        assert executor.pending == [(job.id, "scan")]
    # Stopped before it ran: its queue is gone, the step is still marked sent.
    with running_services(tmp_path, database_urls, executor=settings) as second:
        for task in second.housekeeping:
            assert task.ran_once.wait(30)
        restarted = second.executor
        assert isinstance(restarted, ManualExecutor)
        assert restarted.pending == [(job.id, "scan")], "its first sweep sent it again"
        ended = _drive(second, job.id)
    assert ended.status is JobStatus.COMPLETED
    assert ended.counts.success == len(valid)
