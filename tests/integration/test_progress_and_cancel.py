"""A running import reports progress often and never backwards, and stops when cancelled."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from loadbay.bootstrap import Services, build_services
from loadbay.domain.jobs import JobStatus
from tests.conftest import make_settings
from tests.helpers import ALICE, csv_bytes, submit, table_count

ROWS = 60_000


def _big_file() -> bytes:
    header = ["External ID", "First Name", "Email"]
    return csv_bytes([header, *([f"U{i:06d}", "N", f"u{i}@example.org"] for i in range(ROWS))])


@pytest.fixture
def services(tmp_path, database_urls) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "d", database_urls, executor={"batch_rows": 200})
    built = build_services(settings, executor_backend="manual")
    built.start()
    yield built
    built.stop()


def test_progress_is_stored_at_least_every_second_and_never_goes_down(
    services: Services,
) -> None:
    job = submit(services, "user", _big_file())
    worker = threading.Thread(target=services.runner.run_job, args=(job.id,))
    worker.start()
    seen: list[tuple[float, int]] = []
    while worker.is_alive():
        current = services.job_repository.get(job.id)
        assert current is not None
        if current.progress.total is not None:  # rows (before that, bytes read)
            seen.append((time.monotonic(), current.progress.processed))
        time.sleep(0.05)
    worker.join()
    done = services.job_repository.get(job.id)
    assert done is not None
    assert done.status is JobStatus.COMPLETED
    assert done.progress.processed == ROWS
    assert done.counts.success == ROWS
    values = [processed for _, processed in seen]
    assert values == sorted(values), "progress went down"
    assert len(set(values)) >= 2, "no intermediate progress was stored"
    changes = [t for (t, p), (_, q) in itertools.pairwise(seen) if q != p]
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    assert not gaps or max(gaps) < 1.0, f"progress was silent for {max(gaps):.2f}s"


def test_cancel_stops_a_running_import_at_the_next_batch(services: Services) -> None:
    job = submit(services, "user", _big_file())
    worker = threading.Thread(target=services.runner.run_job, args=(job.id,))
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = services.job_repository.get(job.id)
        assert current is not None
        if current.progress.total is not None and current.progress.processed > 0:
            break
        time.sleep(0.01)
    cancelled = services.jobs.cancel(ALICE, job.id)
    assert cancelled.status is JobStatus.CANCELLED
    worker.join(timeout=30)
    assert not worker.is_alive()
    final = services.job_repository.get(job.id)
    assert final is not None
    assert final.status is JobStatus.CANCELLED
    assert not final.result_available
    written = table_count(services, "users")
    assert 0 < written < ROWS, "the job stopped neither at once nor at the end"
    assert services.job_repository.refs(job.id)[1] is None


def test_a_job_cancelled_before_it_runs_never_runs(services: Services) -> None:
    job = submit(services, "user", _big_file())
    services.jobs.cancel(ALICE, job.id)
    services.runner.run_job(job.id)
    final = services.job_repository.get(job.id)
    assert final is not None
    assert final.status is JobStatus.CANCELLED
    assert final.started_at is None
    assert table_count(services, "users") == 0


def test_while_the_file_is_read_progress_counts_bytes_then_rows(services: Services) -> None:
    from loadbay.api.schemas import JobOut
    from loadbay.domain.jobs import Counts, Progress

    data = _big_file()
    job = submit(services, "user", data)
    repository = services.job_repository
    assert repository.start_attempt(job.id, JobStatus.PROCESSING)
    repository.record_progress(job.id, Progress(4096, None), Counts())
    reading = repository.get(job.id)
    assert reading is not None
    shown = JobOut.of(reading).progress
    assert (shown.processed, shown.total, shown.percent) == (4096, len(data), 0.0)
    repository.record_progress(job.id, Progress(0, ROWS), Counts())
    repository.record_progress(job.id, Progress(200, ROWS), Counts(200, 0))
    importing = repository.get(job.id)
    assert importing is not None
    shown = JobOut.of(importing).progress
    assert (shown.processed, shown.total) == (200, ROWS)
    repository.record_progress(job.id, Progress(100, ROWS), Counts(100, 0))  # a re-run
    again = repository.get(job.id)
    assert again is not None
    assert again.progress.processed == 200, "rows never go down"


def test_a_first_reading_stores_bytes_read(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loadbay.domain.jobs import Counts, Progress

    stored: list[Progress] = []
    repository = services.job_repository
    record = repository.record_progress

    def recording(
        job_id: str,
        progress: Progress,
        counts: Counts,
        running: Sequence[JobStatus] = (JobStatus.PROCESSING,),
    ) -> bool:
        stored.append(progress)
        return record(job_id, progress, counts, running)

    monkeypatch.setattr(repository, "record_progress", recording)
    job = submit(services, "user", _big_file())
    services.runner.run_job(job.id)
    assert stored[0].total is None, stored[:3]
    assert stored[0].processed > 0
    rows = [p for p in stored if p.total is not None]
    assert rows[0] == Progress(0, ROWS)
    assert rows[-1] == Progress(ROWS, ROWS)
