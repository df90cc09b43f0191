"""A real ``loadbay serve`` process, driven over HTTP and through the CLI."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import TOKENS
from tests.e2e.server import LOADBAY, Server, write_config
from tests.helpers import csv_bytes

pytestmark = pytest.mark.e2e
ALICE = TOKENS["alice"]


@pytest.fixture
def config(tmp_path: Path, database_urls: tuple[str, str]) -> Path:
    path = tmp_path / "loadbay.toml"
    write_config(path, tmp_path / "data", database_urls, [ALICE, TOKENS["root"]])
    return path


@pytest.fixture
def server(tmp_path: Path, config: Path) -> Iterator[Server]:
    running = Server(tmp_path, config).start()
    yield running
    running.stop()


def cli(server: Server, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOADBAY_URL": server.url,
        "LOADBAY_TOKEN": ALICE["token"],
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [LOADBAY, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )


def test_cli_import_wait_list_show_and_result(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "users [b].csv"  # rich markup in user data must print as is
    source.write_bytes(
        csv_bytes(
            [
                ["External ID", "First Name", "Email"],
                ["U1", "Ann", "ann@example.org"],
                ["U2", "Bo", "bo@"],
            ]
        )
    )
    done = cli(server, "import", str(source), "--dataset", "user", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = re.search(r"job (\w{26}) received", done.stdout)
    assert job_id, done.stdout
    job_id_text = job_id.group(1)
    assert "completed" in done.stdout
    assert "1 success, 1 failure" in done.stdout

    listed = cli(server, "jobs", "list")
    assert listed.returncode == 0
    assert job_id_text in listed.stdout
    assert "completed" in listed.stdout
    shown = cli(server, "jobs", "show", job_id_text)
    assert shown.returncode == 0, shown.stderr
    assert "users [b].csv" in shown.stdout

    target = tmp_path / "report.csv"
    saved = cli(server, "result", job_id_text, "-o", str(target))
    assert saved.returncode == 0, saved.stderr
    rows = list(csv.reader(io.StringIO(target.read_text("utf-8"), newline="")))
    assert rows[1] == ["U1", "Ann", "ann@example.org", "Success", ""]
    assert rows[2][-2:] == ["Failure", 'Email: "bo@" is not a valid email address']

    missing = cli(server, "jobs", "show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.returncode == 1
    assert "job_not_found" in missing.stderr
    bad_dataset = cli(server, "import", str(source), "--dataset", "planets")
    assert bad_dataset.returncode == 1
    assert "unknown_dataset" in bad_dataset.stderr


def test_serve_without_tokens_creates_and_prints_an_admin_token(tmp_path: Path) -> None:
    running = Server(tmp_path, None).start()
    try:
        match = re.search(r"(lb_[\w-]{20,})", running.output())
        assert match, running.output()
        assert re.search(r"uploads\s+are\s+NOT\s+scanned", running.output())
        assert re.search(r'\[scanner\]\s+backend\s+=\s+"none"', running.output())
        token = match.group(1)
        assert (tmp_path / ".loadbay" / "admin_token").stat().st_mode & 0o777 == 0o600
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{running.url}/api/v1/jobs", headers=headers).status_code == 200
        assert httpx.get(f"{running.url}/api/v1/jobs").status_code == 401
    finally:
        running.stop()
    again = Server(tmp_path, None).start()  # the same token is kept across restarts
    try:
        assert token in again.output()
    finally:
        again.stop()


def test_environment_overrides_the_config_file(tmp_path: Path, config: Path) -> None:
    running = Server(tmp_path, config, env={"LOADBAY_LIMITS__MAX_UPLOAD_BYTES": "1000"}).start()
    try:
        response = httpx.post(
            f"{running.url}/api/v1/imports",
            headers={"Authorization": f"Bearer {ALICE['token']}"},
            data={"dataset": "user"},
            files={"file": ("big.csv", b"x" * 5000, "text/csv")},
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "file_too_large"
    finally:
        running.stop()


def _job(server: Server, job_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/v1/jobs/{job_id}",
        headers={"Authorization": f"Bearer {ALICE['token']}"},
        timeout=10,
    )
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


def test_a_job_survives_a_crash_of_the_server(
    tmp_path: Path, config: Path, database_urls: tuple[str, str]
) -> None:
    rows = 300_000
    header = ["External ID", "First Name", "Email"]
    body = [[f"U{i:07d}", "N", f"u{i}@example.org" if i % 10 else "bad@"] for i in range(rows)]
    data = csv_bytes([header, *body])
    first = Server(tmp_path, config).start()
    response = httpx.post(
        f"{first.url}/api/v1/imports",
        headers={"Authorization": f"Bearer {ALICE['token']}"},
        data={"dataset": "user"},
        files={"file": ("users.csv", data, "text/csv")},
        timeout=60,
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = _job(first, job_id)
        if job["status"] == "processing" and job["progress"]["processed"] > 0:
            break
        time.sleep(0.02)
    assert job["status"] == "processing", f"too late to crash it: {job}"
    first.kill()

    second = Server(tmp_path, config).start()
    try:
        deadline = time.monotonic() + 120
        while (job := _job(second, job_id))["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "completed", job
        assert job["counts"] == {"success": rows - rows // 10, "failure": rows // 10}
        link = httpx.get(
            f"{second.url}/api/v1/jobs/{job_id}/result-link",
            headers={"Authorization": f"Bearer {ALICE['token']}"},
        ).json()
        report = httpx.get(link["url"], timeout=60)
        parsed = list(csv.reader(io.StringIO(report.text, newline="")))
        ids = [r[0] for r in parsed[1:]]
        assert len(ids) == rows, "every row once"
        assert len(set(ids)) == rows, "no row twice"
        assert "resuming job" in second.output()
        engine = create_engine(database_urls[1])
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT COUNT(*) FROM users")).scalar_one()
        engine.dispose()
        assert stored == rows - rows // 10, "each valid row exactly once in the target"
    finally:
        second.stop()
