"""What an autoscaler and an on-call person read: /metrics and /readyz."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from loadbay.api.app import create_app
from loadbay.bootstrap import build_services
from loadbay.scanners.base import ScanResult, ScanVerdict
from loadbay.scanners.stub import StubScanner
from tests.api.support import USERS, make_client, upload, wait_done
from tests.conftest import make_settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(client: TestClient) -> Samples:
    """Every sample of /metrics by (name, labels)."""
    response = client.get("/metrics")  # no token: like /healthz
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_metrics_show_the_jobs_by_status_and_kind_and_the_scan(client: TestClient) -> None:
    before = scrape(client)
    assert value(before, "loadbay_jobs", kind="import", status="received") == 0
    job = wait_done(client, upload(client).json()["id"])
    second = wait_done(client, upload(client).json()["id"])
    assert second["status"] == job["status"]
    samples = scrape(client)
    assert value(samples, "loadbay_jobs", kind="import", status=job["status"]) == 2
    assert value(samples, "loadbay_jobs", kind="import", status="processing") == 0
    assert value(samples, "loadbay_scan_verdicts_total", verdict="skipped") == 2
    assert value(samples, "process_cpu_seconds_total") is not None
    assert ("loadbay_queue_depth", frozenset({("queue", "loadbay")})) not in samples  # in-process


def test_metrics_count_the_rows_decided(client: TestClient) -> None:
    job = wait_done(client, upload(client).json()["id"])
    samples = scrape(client)
    assert job["counts"] == {"success": 2, "failure": 1}
    assert value(samples, "loadbay_rows_total", dataset="user", outcome="success") == 2
    assert value(samples, "loadbay_rows_total", dataset="user", outcome="failure") == 1
    for stage in ("scan", "split", "parse", "index", "decide", "finalize"):
        count = value(samples, "loadbay_stage_duration_seconds_count", kind="import", stage=stage)
        assert count == 1, stage


def test_metrics_count_a_clean_verdict(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    clean = ScanResult(ScanVerdict.CLEAN, None, "stub 1.0", len(USERS))
    services = build_services(
        make_settings(tmp_path / "data", database_urls), None, StubScanner([clean])
    )
    with TestClient(create_app(services), base_url="http://127.0.0.1:8000") as client:
        wait_done(client, upload(client).json()["id"])
        samples = scrape(client)
    assert value(samples, "loadbay_scan_verdicts_total", verdict="clean") == 1
    assert value(samples, "loadbay_scan_verdicts_total", verdict="skipped") is None


def test_readyz_names_every_check(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "database": "ok",
        **{f"stores.{name}": "ok" for name in client.app.state.services.settings.store_names},  # type: ignore[attr-defined]
    }
    assert "stores.incoming" in body["checks"]
    assert "broker" not in body["checks"], "no broker with the in-process executor"


@pytest.fixture
def broken_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "incoming-disk"
    yield folder
    if folder.is_file():
        folder.unlink()


def test_readyz_names_a_local_store_that_cannot_be_used(
    tmp_path: Path, database_urls: tuple[str, str], broken_folder: Path
) -> None:
    settings = make_settings(
        tmp_path / "data", database_urls, stores={"incoming": {"url": broken_folder.as_uri()}}
    )
    with make_client(settings) as client:
        assert client.get("/readyz").status_code == 200
        shutil.rmtree(broken_folder)
        broken_folder.write_text("the disk was unmounted and a file left in its place")
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["stores.incoming"].startswith("unavailable: NotADirectoryError")
    assert body["checks"]["database"] == "ok"
    assert [name for name, answer in body["checks"].items() if answer != "ok"] == [
        "stores.incoming"
    ]


def test_readyz_answers_in_time_when_an_object_store_is_unreachable(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    unreachable = {
        "url": "s3://nowhere/exports",
        "endpoint": f"http://127.0.0.1:{closed_port()}",
        "region": "us-east-1",
        "access_key_id": "test",
        "secret_access_key": "test",
        "allow_http": True,
    }
    settings = make_settings(tmp_path / "data", database_urls, stores={"exports": unreachable})
    with make_client(settings) as client:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 3.5
    checks = response.json()["checks"]
    assert checks["stores.exports"].startswith("unavailable: ")
    assert checks["stores.incoming"] == "ok"


def test_readyz_names_the_broker_of_celery_workers(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    broker = f"redis://127.0.0.1:{closed_port()}/0"
    settings = make_settings(
        tmp_path / "data", database_urls, executor={"backend": "celery", "broker_url": broker}
    )
    with make_client(settings) as client:
        response = client.get("/readyz")
        samples = scrape(client)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"].startswith("unavailable: ")
    assert "refused" in checks["broker"]
    assert checks["database"] == "ok"
    # The queue's depth is unknown, so the sample is left out rather than reported 0.
    assert not [key for key in samples if key[0] == "loadbay_queue_depth"]
