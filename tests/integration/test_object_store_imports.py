"""Imports with every store in S3 (ministack) or Azure Blob (Azurite): the upload, the
scan's move, the parse and the report all stream through the object store, and result
links are the provider's own presigned URLs — which keep working after a switch."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadbay.bootstrap import Services
from loadbay.domain.jobs import JobStatus
from tests.fixtures_objects import AzuriteServer, S3Server
from tests.helpers import ALICE, csv_bytes, run_import, running_services

USERS = csv_bytes(
    [["External ID", "First Name", "Email"], ["U1", "Ann", "a@example.org"], ["U2", "", "b@"]]
)
ROLES = ("incoming", "permanent", "quarantine", "results", "exports")


def stores_on(server: S3Server | AzuriteServer) -> dict[str, Any]:
    bucket = server.create_bucket()
    return {role: {"url": server.url(bucket, role), **server.options()} for role in ROLES}


def fetch_result(services: Services, job_id: str) -> tuple[str, httpx.Response]:
    link = services.jobs.result_link(ALICE, job_id, 600)
    return link.url, httpx.get(link.url, timeout=30)


@pytest.mark.parametrize("provider", ["ministack", "azurite"])
def test_an_import_runs_end_to_end_on_object_storage(
    tmp_path: Path,
    database_urls: tuple[str, str],
    provider: str,
    request: pytest.FixtureRequest,
) -> None:
    server = request.getfixturevalue(provider)
    with running_services(tmp_path, database_urls, stores=stores_on(server)) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.COMPLETED, job.error
        assert (job.counts.success, job.counts.failure) == (1, 1)
        url, response = fetch_result(services, job.id)
    assert not url.startswith(services.settings.public_url), "the provider's own link"
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="user_{job.id}.csv"'
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert [r[-2] for r in rows[1:]] == ["Success", "Failure"]
    local = services.settings.data_dir / "stores"
    assert not local.exists() or not [p for p in local.rglob("*") if p.is_file()]


@pytest.mark.local_results
def test_switching_the_results_store_keeps_old_links_working(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    old_results = {"url": ministack.url(ministack.create_bucket()), **ministack.options()}
    with running_services(tmp_path, database_urls, stores={"results": old_results}) as services:
        job = run_import(services, "user", USERS)
    # The results store moves to local disk; the old bucket stays configured, retired.
    with running_services(
        tmp_path, database_urls, stores={"results_2025": {**old_results, "retired": True}}
    ) as services:
        url, response = fetch_result(services, job.id)
        assert response.status_code == 200
        assert "s3" in url or ministack.endpoint in url
        new_job = run_import(services, "user", USERS)
        new_link = services.jobs.result_link(ALICE, new_job.id, 600)
        assert new_link.url.startswith(services.settings.public_url), "new results are local"
