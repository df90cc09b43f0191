"""The scanning stage with a scripted scanner: every verdict, fail-closed waiting,
quarantine, and where the file ends up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from loadbay.bootstrap import Services
from loadbay.db.audit import AuditFilter
from loadbay.domain.audit import AuditAction
from loadbay.domain.jobs import JobStatus, ScanVerdict
from loadbay.scanners.base import ScannerUnavailable, ScanResult
from loadbay.scanners.base import ScanVerdict as Verdict
from loadbay.scanners.stub import StubScanner
from tests.helpers import (
    ALICE,
    csv_bytes,
    objects,
    run_import,
    running_services,
    submit,
    table_count,
)

USERS = csv_bytes([["External ID", "First Name", "Email"], ["U1", "Ann", "a@example.org"]])
CLEAN = ScanResult(Verdict.CLEAN, None, "stub 1.0", len(USERS))
INFECTED = ScanResult(Verdict.INFECTED, "Test.EICAR.NDB", "stub 1.0", len(USERS))
TOO_LARGE = ScanResult(Verdict.TOO_LARGE, None, "stub 1.0", len(USERS))
FAST_RETRIES = {"retry_max_delay_seconds": 0.05, "unavailable_timeout_seconds": 0.5}


def stored(services: Services, store: str) -> list[bytes]:
    return list(objects(services, store).values())


def test_without_a_scanner_the_scan_is_recorded_as_skipped(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    with running_services(tmp_path, database_urls) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.COMPLETED
        assert job.scan is not None
        assert job.scan.verdict is ScanVerdict.SKIPPED
        assert stored(services, "incoming") == []
        assert len(stored(services, "permanent")) == 1


def test_a_clean_file_moves_to_the_permanent_store_and_imports(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    scanner = StubScanner([CLEAN])
    with running_services(tmp_path, database_urls, scanner=scanner) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.COMPLETED
        assert job.scan is not None
        assert (job.scan.verdict, job.scan.engine) == (ScanVerdict.CLEAN, "stub 1.0")
        assert job.scan.scanned_at is not None
        assert scanner.scanned == [USERS], "the scanner saw the whole upload"
        assert stored(services, "permanent") == [USERS]
        assert stored(services, "incoming") == []


def test_an_infected_file_is_quarantined_and_never_imported(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    with running_services(tmp_path, database_urls, scanner=StubScanner([INFECTED])) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.QUARANTINED
        assert job.error is not None
        assert job.error.code == "malware_detected"
        assert "Test.EICAR.NDB" in job.error.message
        assert job.scan is not None
        assert job.scan.signature == "Test.EICAR.NDB"
        assert not job.result_available
        assert table_count(services, "users") == 0
        assert stored(services, "incoming") == stored(services, "permanent") == []
        assert stored(services, "quarantine") == [USERS]
        (entry,) = services.audit._repository.list(
            None, AuditFilter(action=AuditAction.JOB_QUARANTINED), 10, None
        )
        assert (entry.actor, entry.job_id) == ("system", job.id)


@pytest.mark.parametrize("allowed", [False, True])
def test_a_file_too_large_to_scan(
    tmp_path: Path, database_urls: tuple[str, str], allowed: bool
) -> None:
    with running_services(
        tmp_path,
        database_urls,
        scanner=StubScanner([TOO_LARGE]),
        scanner_settings={"allow_too_large": allowed},
    ) as services:
        job = run_import(services, "user", USERS)
        assert job.scan is not None
        assert job.scan.verdict is ScanVerdict.TOO_LARGE
        if allowed:
            assert job.status is JobStatus.COMPLETED
        else:
            assert job.status is JobStatus.FAILED
            assert job.error is not None
            assert job.error.code == "file_too_large_to_scan"
            assert table_count(services, "users") == 0


def test_the_job_waits_while_the_scanner_is_down_then_completes(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    down = ScannerUnavailable("connection refused")
    scanner = StubScanner([down, down, CLEAN])
    with running_services(
        tmp_path, database_urls, scanner=scanner, scanner_settings=FAST_RETRIES
    ) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.COMPLETED
        assert len(scanner.scanned) == 3


def test_the_job_fails_closed_when_the_scanner_stays_down(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    scanner = StubScanner([ScannerUnavailable("connection refused")])
    with running_services(
        tmp_path, database_urls, scanner=scanner, scanner_settings=FAST_RETRIES
    ) as services:
        started = time.monotonic()
        job = run_import(services, "user", USERS)
        assert time.monotonic() - started >= 0.5
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert job.error.code == "scan_unavailable"
        assert table_count(services, "users") == 0
        assert len(stored(services, "incoming")) == 1, "the unscanned file stays incoming"


def test_without_required_scanning_a_missing_scanner_lets_files_through(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    scanner = StubScanner([ScannerUnavailable("connection refused")])
    settings = {**FAST_RETRIES, "required": False}
    with running_services(
        tmp_path, database_urls, scanner=scanner, scanner_settings=settings
    ) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.COMPLETED
        assert job.scan is not None
        assert job.scan.verdict is ScanVerdict.SKIPPED


def test_a_job_waiting_for_the_scanner_can_be_cancelled(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    scanner = StubScanner([ScannerUnavailable("connection refused")])
    settings = {"retry_max_delay_seconds": 0.05, "unavailable_timeout_seconds": 60}
    with running_services(
        tmp_path, database_urls, scanner=scanner, scanner_settings=settings
    ) as services:
        job = submit(services, "user", USERS)
        worker = threading.Thread(target=services.runner.run_job, args=(job.id,))
        worker.start()
        while not scanner.scanned:
            time.sleep(0.01)
        current = services.job_repository.get(job.id)
        assert current is not None
        assert current.status is JobStatus.SCANNING
        services.jobs.cancel(ALICE, job.id)
        worker.join(timeout=10)
        assert not worker.is_alive()
        final = services.job_repository.get(job.id)
        assert final is not None
        assert final.status is JobStatus.CANCELLED
