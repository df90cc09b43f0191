"""What the API tests share: a client on the real app, uploads, waiting, error checks."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from loadbay.api.app import create_app
from loadbay.bootstrap import build_services
from loadbay.config import Settings
from tests.conftest import auth
from tests.helpers import csv_bytes

USERS = csv_bytes(
    [
        ["External ID", "First Name", "Email", "Phone"],
        ["U1", "Ann", "ann@example.org", ""],
        ["U2", "", "bob@", ""],
        ["U3", "Cy", "", "+441234567890"],
    ]
)


def make_client(settings: Settings) -> TestClient:
    return TestClient(create_app(build_services(settings)), base_url="http://127.0.0.1:8000")


def upload(
    client: TestClient, who: str = "alice", data: bytes = USERS, dataset: str = "user"
) -> Any:
    return client.post(
        "/api/v1/imports",
        headers=auth(who),
        data={"dataset": dataset},
        files={"file": ("users.csv", data, "text/csv")},
    )


def wait_done(client: TestClient, job_id: str, who: str = "alice") -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=auth(who)).json()
        if job["status"] in ("completed", "failed", "cancelled", "quarantined"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end: {job}")


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
