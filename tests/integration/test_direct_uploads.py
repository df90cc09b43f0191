"""Direct-to-bucket uploads: announce, PUT straight to S3 or Azure, complete; what
happens when the client lies, is late, or completes twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from loadbay.api.app import create_app
from loadbay.bootstrap import Services
from tests.api.support import assert_error
from tests.conftest import auth
from tests.fixtures_objects import AzuriteServer, S3Server
from tests.helpers import csv_bytes, running_services

USERS = csv_bytes(
    [["External ID", "First Name", "Email"], ["U1", "Ann", "a@example.org"], ["U2", "Bo", "b@"]]
)


def incoming_on(server: S3Server | AzuriteServer) -> dict[str, Any]:
    return {"incoming": {"url": server.url(server.create_bucket(), "in"), **server.options()}}


@pytest.fixture(params=["ministack", "azurite"])
def on_bucket(
    request: pytest.FixtureRequest, tmp_path: Path, database_urls: tuple[str, str]
) -> Iterator[tuple[Services, TestClient]]:
    server = request.getfixturevalue(request.param)
    with running_services(tmp_path, database_urls, stores=incoming_on(server)) as services:
        yield services, TestClient(create_app(services))  # no lifespan: already running


def announce(client: TestClient, size: int = len(USERS), who: str = "alice") -> Any:
    return client.post(
        "/api/v1/uploads",
        headers=auth(who),
        json={"dataset": "user", "file_name": "big users.csv", "size": size},
    )


def put(announced: dict[str, Any], data: bytes) -> httpx.Response:
    return httpx.request(
        announced["method"],
        announced["upload_url"],
        content=data,
        headers={"Content-Type": "application/octet-stream", **announced["headers"]},
        timeout=30,
    )


def test_upload_straight_to_the_bucket_then_import(on_bucket: tuple[Services, TestClient]) -> None:
    services, client = on_bucket
    response = announce(client)
    assert response.status_code == 201, response.text
    announced = response.json()
    assert announced["method"] == "PUT"
    assert announced["expires_at"].endswith("Z")
    assert put(announced, USERS).status_code in (200, 201)
    completed = client.post(f"/api/v1/uploads/{announced['id']}/complete", headers=auth("alice"))
    assert completed.status_code == 202, completed.text
    job = completed.json()
    assert completed.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["file_name"], job["file_size"]) == ("big users.csv", len(USERS))
    again = client.post(f"/api/v1/uploads/{announced['id']}/complete", headers=auth("alice"))
    assert again.json()["id"] == job["id"], "completing twice starts one job"
    services.executor.run_pending()  # type: ignore[attr-defined]
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=auth("alice")).json()
    assert done["status"] == "completed"
    assert done["counts"] == {"success": 1, "failure": 1}


def test_a_lying_or_early_client_is_refused(on_bucket: tuple[Services, TestClient]) -> None:
    _, client = on_bucket
    announced = announce(client).json()
    path = f"/api/v1/uploads/{announced['id']}/complete"
    assert_error(client.post(path, headers=auth("alice")), 409, "upload_missing")
    assert_error(client.post(path, headers=auth("bob")), 404, "upload_not_found")
    put(announced, USERS + b"U3,Cy,c@example.org\r\n")
    assert_error(client.post(path, headers=auth("alice")), 422, "size_mismatch")
    assert client.get("/api/v1/jobs", headers=auth("alice")).json()["items"] == []


def test_announcing_checks_the_dataset_and_the_size(
    on_bucket: tuple[Services, TestClient],
) -> None:
    _, client = on_bucket
    too_big = client.post(
        "/api/v1/uploads",
        headers=auth("alice"),
        json={"dataset": "user", "file_name": "u.csv", "size": 2 * 1024**3},
    )
    assert_error(too_big, 413, "file_too_large")
    unknown = client.post(
        "/api/v1/uploads",
        headers=auth("alice"),
        json={"dataset": "planets", "file_name": "u.csv", "size": 10},
    )
    assert_error(unknown, 422, "unknown_dataset")


def test_uploads_never_completed_expire_and_their_objects_go(
    on_bucket: tuple[Services, TestClient],
) -> None:
    services, client = on_bucket
    announced = announce(client).json()
    put(announced, USERS)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert services.uploads.expire_overdue(later) == 1
    assert services.uploads.expire_overdue(later) == 0
    assert_error(
        client.post(f"/api/v1/uploads/{announced['id']}/complete", headers=auth("alice")),
        410,
        "upload_expired",
    )
    incoming = services.stores["incoming"]
    assert not incoming.exists(f"{announced['id']}/upload")


def test_local_disk_takes_no_direct_uploads(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    local = {"incoming": {"url": (tmp_path / "incoming").as_uri()}}
    with running_services(tmp_path, database_urls, stores=local) as services:
        client = TestClient(create_app(services))
        assert_error(announce(client), 422, "direct_upload_unavailable")
