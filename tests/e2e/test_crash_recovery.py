"""A worker killed mid-chunk, a broker restarted, an API process killed: each costs time,
never data. Real processes, killed with SIGKILL, on the real Redis and RabbitMQ (and a
private redis-server for the restart), with the steps' lease cut to seconds.

After each, the job completes with exact counts, the target holds each valid row once
and the report has every row exactly once.
"""

from __future__ import annotations

import csv
import io
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TOKENS, database_backend, unavailable
from tests.e2e.server import Server, Worker, append_section, free_port, write_config
from tests.e2e.test_celery import BROKERS, reachable
from tests.helpers import csv_bytes
from tests.processes import log_tail

pytestmark = pytest.mark.e2e
ALICE = TOKENS["alice"]
ROWS = 60_000
INVALID = ROWS // 10
#: Seconds, not minutes: a killed worker's step is taken for abandoned quickly.
EXECUTOR = {
    "lease_seconds": 3,
    "sweep_interval_seconds": 0.5,
    "redeliver_after_seconds": 4,
    "retry_delay_seconds": 0.5,
    "chunk_bytes": 512 * 1024,  # 4 chunks, each deciding for a good part of a second
    "batch_rows": 500,
}


class PrivateRedis:
    """A redis-server of the test's own, on its own port, that keeps nothing on disk:
    a restart loses every message it held."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server (Debian's redis-server package)")
        self.binary = str(binary)
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not reachable("127.0.0.1", self.port):
            assert self.process.poll() is None, log_tail(self.log)
            assert time.monotonic() < deadline, log_tail(self.log)
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.kill()


def _config(tmp_path: Path, database_urls: tuple[str, str], broker_url: str) -> Path:
    path = tmp_path / "loadbay.toml"
    write_config(path, tmp_path / "data", database_urls, [ALICE])
    executor: dict[str, Any] = {
        "backend": "celery",
        "broker_url": broker_url,
        "queue": f"loadbay-test-{secrets.token_hex(4)}",
        **EXECUTOR,
    }
    append_section(path, "executor", executor)
    return path


# A worker is killed on each shared broker once per ``make test``: on RabbitMQ in the
# SQLite pass, on Redis in the PostgreSQL pass (test_celery.py runs both brokers on both
# databases). Each kill costs some twenty seconds of leases running out.
KILLED_ON = ["rabbitmq"] if database_backend() == "sqlite" else ["redis"]


@pytest.fixture(params=KILLED_ON)
def shared_broker(request: pytest.FixtureRequest) -> str:
    host, port, url = BROKERS[request.param]
    if not reachable(host, port):
        unavailable(f"{request.param} at {host}:{port}")
    return url.format(db=secrets.randbelow(14) + 1)


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ALICE['token']}"}


def _submit(server: Server) -> str:
    header = ["External ID", "First Name", "Last Name", "Email"]
    body = [
        [f"U{i:06d}", "N", f'Two\nlines "{i}"' if i % 7 == 0 else "L", f"u{i}@example.org"]
        if i % 10
        else [f"U{i:06d}", "N", "L", "bad@"]
        for i in range(ROWS)
    ]
    response = httpx.post(
        f"{server.url}/api/v1/imports",
        headers=_headers(),
        data={"dataset": "user"},
        files={"file": ("users.csv", csv_bytes([header, *body]), "text/csv")},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _job(server: Server, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/jobs/{job_id}", headers=_headers(), timeout=10)
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


def _wait_mid_import(server: Server, job_id: str, worker: Worker | None = None) -> dict[str, Any]:
    """Wait until rows are being decided, some done and some not (before, while the
    file is read, progress counts bytes), and ``worker`` is inside a step."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = _job(server, job_id)
        progress = job["progress"]
        deciding = progress["total"] == ROWS and 0 < progress["processed"] < ROWS
        if deciding and (worker is None or worker.busy()):
            return job
        assert job["status"] in ("received", "scanning", "processing"), job
        time.sleep(0.01)
    raise AssertionError(f"the import never got under way: {job}")


def _wait_ended(server: Server, job_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := _job(server, job_id))["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def _assert_exactly_once(server: Server, job_id: str, database_urls: tuple[str, str]) -> None:
    job = _wait_ended(server, job_id)
    assert job["status"] == "completed", job
    assert job["counts"] == {"success": ROWS - INVALID, "failure": INVALID}
    assert job["progress"]["processed"] == job["progress"]["total"] == ROWS
    link = httpx.get(f"{server.url}/api/v1/jobs/{job_id}/result-link", headers=_headers())
    report = httpx.get(link.json()["url"], timeout=60)
    parsed = list(csv.reader(io.StringIO(report.text, newline="")))
    ids = [r[0] for r in parsed[1:]]
    assert len(ids) == ROWS, "every row in the report"
    assert len(set(ids)) == ROWS, "no row twice"
    assert sum(1 for r in parsed[1:] if r[-2] == "Success") == ROWS - INVALID
    engine = create_engine(database_urls[1])
    try:
        with engine.connect() as connection:
            stored, distinct, wrapped = connection.execute(
                text(
                    "SELECT COUNT(*), COUNT(DISTINCT external_id),"
                    " SUM(CASE WHEN last_name LIKE 'Two%' THEN 1 ELSE 0 END) FROM users"
                )
            ).one()
    finally:
        engine.dispose()
    assert stored == distinct == ROWS - INVALID, "each valid row once"
    assert wrapped == sum(1 for i in range(ROWS) if i % 7 == 0 and i % 10)


def test_a_worker_killed_mid_chunk_costs_time_not_data(
    tmp_path: Path, database_urls: tuple[str, str], shared_broker: str
) -> None:
    config = _config(tmp_path, database_urls, shared_broker)
    server = Server(tmp_path, config).start()
    first = Worker(tmp_path, config, "first")
    second: Worker | None = None
    try:
        job_id = _submit(server)
        _wait_mid_import(server, job_id, first)
        first.kill()
        assert first.busy(), "it was inside a step when killed"
        second = Worker(tmp_path, config, "second")
        _assert_exactly_once(server, job_id, database_urls)
        taken_over = second.output()
        assert ": attempt 2" in taken_over, "the killed worker's step ran again"
        assert "Task loadbay.run_step[" in taken_over
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
        server.stop()


def test_a_broker_restart_loses_no_step(
    tmp_path: Path, database_urls: tuple[str, str], private_redis: PrivateRedis
) -> None:
    """The broker keeps nothing: its restart drops every queued message. The database
    still knows each step, and the sweep sends them again."""
    config = _config(tmp_path, database_urls, private_redis.url)
    server = Server(tmp_path, config).start()
    worker = Worker(tmp_path, config, "only")
    try:
        job_id = _submit(server)
        _wait_mid_import(server, job_id)
        private_redis.kill()
        time.sleep(1)
        private_redis.start()
        _assert_exactly_once(server, job_id, database_urls)
    finally:
        worker.stop()
        server.stop()
    assert "resuming job" in server.output() + worker.output(), "the sweep resent steps"


def test_the_api_process_killed_mid_import_changes_nothing(
    tmp_path: Path, database_urls: tuple[str, str], private_redis: PrivateRedis
) -> None:
    """Whatever the broker: the API process only records and enqueues."""
    config = _config(tmp_path, database_urls, private_redis.url)
    first = Server(tmp_path, config).start()
    worker = Worker(tmp_path, config, "only")
    second: Server | None = None
    try:
        job_id = _submit(first)
        _wait_mid_import(first, job_id)
        first.kill()
        second = Server(tmp_path, config).start()
        _assert_exactly_once(second, job_id, database_urls)
    finally:
        worker.stop()
        if second is not None:
            second.stop()
        first.stop()
