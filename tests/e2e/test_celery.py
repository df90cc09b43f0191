"""`serve` with the Celery executor only enqueues; `loadbay worker` processes run the
jobs — through the real Redis and RabbitMQ on this machine."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TOKENS, unavailable
from tests.e2e.server import Server, append_section, write_config
from tests.helpers import csv_bytes

pytestmark = pytest.mark.e2e
ALICE = TOKENS["alice"]
BROKERS = {
    "redis": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/{db}"),
    "rabbitmq": ("127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672//"),
}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(params=list(BROKERS))
def broker_url(request: pytest.FixtureRequest) -> str:
    host, port, url = BROKERS[request.param]
    if not reachable(host, port):
        unavailable(f"{request.param} at {host}:{port}")
    return url.format(db=secrets.randbelow(14) + 1)


@pytest.fixture
def config(tmp_path: Path, database_urls: tuple[str, str], broker_url: str) -> Path:
    path = tmp_path / "loadbay.toml"
    write_config(path, tmp_path / "data", database_urls, [ALICE])
    queue = f"loadbay-test-{secrets.token_hex(4)}"  # this test's own queue
    append_section(
        path, "executor", {"backend": "celery", "broker_url": broker_url, "queue": queue}
    )
    return path


def job_of(server: Server, job_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/v1/jobs/{job_id}",
        headers={"Authorization": f"Bearer {ALICE['token']}"},
    )
    job: dict[str, Any] = response.json()
    return job


def test_workers_run_the_jobs_serve_enqueues(tmp_path: Path, config: Path, worker: Path) -> None:
    server = Server(tmp_path, config).start()
    try:
        data = csv_bytes(
            [["External ID", "First Name", "Email"], *([f"U{i}", "N", "x@"] for i in range(50))]
        )
        response = httpx.post(
            f"{server.url}/api/v1/imports",
            headers={"Authorization": f"Bearer {ALICE['token']}"},
            data={"dataset": "user"},
            files={"file": ("users.csv", data, "text/csv")},
        )
        assert response.status_code == 202
        job_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while (job := job_of(server, job_id))["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "completed", job
        assert job["counts"] == {"success": 0, "failure": 50}
        worked = worker.read_text("utf-8", "replace")
        assert "Task loadbay.run_step[" in worked, "the worker ran it"
        assert "succeeded" in worked
    finally:
        server.stop()
