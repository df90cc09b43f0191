"""The scanning stage against a real clamd: clean files import, EICAR anywhere is
quarantined and alerted, a stopped clamd holds jobs back, a size limit fails them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loadbay.api.app import create_app
from loadbay.bootstrap import Services
from loadbay.domain.jobs import JobStatus, ScanVerdict
from tests.api.support import assert_error
from tests.conftest import auth
from tests.fixtures_clamd import ClamdServer, eicar
from tests.helpers import csv_bytes, run_import, running_services, submit, table_count
from tests.receivers import Inbox, Receiver

HEADER = ["External ID", "First Name", "Email"]


def users(rows: int, infected_at: int | None = None, name: str = "N") -> bytes:
    body = [[f"U{i}", name, f"u{i}@example.org"] for i in range(rows)]
    if infected_at is not None:
        body[infected_at][1] = eicar().decode("ascii")
    return csv_bytes([HEADER, *body])


def scanner_settings(server: ClamdServer, **extra: Any) -> dict[str, Any]:
    return {"backend": "clamd", "url": server.tcp_url, **extra}


@pytest.fixture
def scanned(
    tmp_path: Path, database_urls: tuple[str, str], clamd: ClamdServer
) -> Iterator[Services]:
    with running_services(tmp_path, database_urls, scanner_settings=scanner_settings(clamd)) as s:
        yield s


def test_a_clean_file_is_scanned_and_imported(scanned: Services) -> None:
    job = run_import(scanned, "user", users(50))
    assert job.status is JobStatus.COMPLETED
    assert job.scan is not None
    assert job.scan.verdict is ScanVerdict.CLEAN
    assert job.scan.engine is not None
    assert job.scan.engine.startswith("ClamAV")
    assert table_count(scanned, "users") == 50


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: eicar(), id="eicar alone, named .csv"),
        pytest.param(lambda: eicar() + b"\r\n" + users(10), id="at the start"),
        pytest.param(
            lambda: users(650_000, infected_at=325_000, name="N" * 50), id="in the middle of 50 MB"
        ),
    ],
)
def test_eicar_anywhere_is_quarantined_and_never_imported(scanned: Services, data: Any) -> None:
    content = data()
    if len(content) > 1_000_000:
        assert len(content) > 50_000_000
    job = run_import(scanned, "user", content)
    assert job.status is JobStatus.QUARANTINED
    assert job.error is not None
    assert job.error.code == "malware_detected"
    assert job.scan is not None
    assert job.scan.signature is not None
    assert "EICAR" in job.scan.signature
    assert table_count(scanned, "users") == 0
    assert not job.result_available
    quarantine = scanned.stores["quarantine"]
    assert [quarantine.size(key) for key in quarantine.list_keys()] == [len(content)]


def test_a_quarantined_job_offers_no_download_and_alerts_the_admins(
    tmp_path: Path,
    database_urls: tuple[str, str],
    clamd: ClamdServer,
    receiver: Receiver,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    notifications = {
        "smtp": {"host": "127.0.0.1", "port": port},
        "admin": {
            "emails": ["security@example.org"],
            "webhooks": [{"url": receiver.url, "secret": "admin-secret-1"}],
        },
        "first_retry_delay_seconds": 0,
    }
    with running_services(
        tmp_path,
        database_urls,
        scanner_settings=scanner_settings(clamd),
        notifications=notifications,
    ) as services:
        job = submit(services, "user", eicar())
        services.runner.run_job(job.id)
        client = TestClient(create_app(services))  # no lifespan: the services already run
        path = f"/api/v1/jobs/{job.id}"
        shown = client.get(path, headers=auth("alice")).json()
        assert shown["status"] == "quarantined"
        assert shown["scan"]["verdict"] == "infected"
        assert_error(
            client.get(path + "/result-link", headers=auth("alice")), 409, "result_not_ready"
        )
        assert services.notifications.wait_idle(10)
    assert [e.rcpt_tos for e in inbox.envelopes] == [["security@example.org"]]
    assert len(receiver.requests) == 1
    assert b'"event":"job.quarantined"' in receiver.requests[0].body


def test_a_job_waits_while_clamd_is_down_and_completes_when_it_returns(
    tmp_path: Path, database_urls: tuple[str, str], clamd: ClamdServer
) -> None:
    settings = scanner_settings(clamd, retry_max_delay_seconds=0.2)
    with running_services(tmp_path, database_urls, scanner_settings=settings) as services:
        clamd.stop()
        try:
            job = submit(services, "user", users(20))
            worker = threading.Thread(target=services.runner.run_job, args=(job.id,))
            worker.start()
            time.sleep(1.0)
            waiting = services.job_repository.get(job.id)
            assert waiting is not None
            assert waiting.status is JobStatus.SCANNING, "held back, not let through"
            assert table_count(services, "users") == 0
        finally:
            clamd.start()
        worker.join(timeout=30)
        done = services.job_repository.get(job.id)
        assert done is not None
        assert done.status is JobStatus.COMPLETED
        assert table_count(services, "users") == 20


def test_clamd_down_past_the_timeout_fails_the_job(
    tmp_path: Path, database_urls: tuple[str, str], clamd: ClamdServer
) -> None:
    settings = scanner_settings(clamd, retry_max_delay_seconds=0.1, unavailable_timeout_seconds=0.5)
    with running_services(tmp_path, database_urls, scanner_settings=settings) as services:
        clamd.stop()
        try:
            job = run_import(services, "user", users(20))
        finally:
            clamd.start()
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert job.error.code == "scan_unavailable"
        assert table_count(services, "users") == 0


def test_a_file_over_clamds_stream_limit_fails_unscanned(
    tmp_path: Path, database_urls: tuple[str, str], small_clamd: ClamdServer
) -> None:
    with running_services(
        tmp_path, database_urls, scanner_settings=scanner_settings(small_clamd)
    ) as services:
        job = run_import(services, "user", users(60_000))  # about 2 MB, over 1 MB
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert job.error.code == "file_too_large_to_scan"
        assert job.scan is not None
        assert job.scan.verdict is ScanVerdict.TOO_LARGE
        assert table_count(services, "users") == 0
