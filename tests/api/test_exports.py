"""Exports through the API: asynchronous, filtered, in four formats, shared within the
tenant, expiring, deleted by the retention sweep, notified and audited.

Runs on SQLite and PostgreSQL (``-m db``), and with every store on local disk, S3 and
Azure (``LOADBAY_TEST_STORES``): the file is written as a stream to the exports store.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from loadbay.config import Settings
from tests.api.support import assert_error, make_client, upload, wait_done
from tests.conftest import TOKENS, auth, make_settings
from tests.helpers import csv_bytes
from tests.receivers import Receiver

pytestmark = pytest.mark.db

HEADER = ["External ID", "First Name", "Last Name", "Email", "Date of Birth", "Status"]
PEOPLE = [
    ["U1", "Ann", "Lee", "ann@example.org", "1985-04-01", "active"],
    ["U2", "Bo", "=HYPERLINK(1)", "bo@example.org", "1990-01-01", "active"],
    ["U3", "Cy", "Ng", "cy@example.org", "1995-12-31", "inactive"],
    ["U4", "Di", "", "di@example.org", "2001-07-15", "active"],
    ["U5", "Ed", "O'Neil, Jr", "ed@example.org", "", "active"],
]
#: status active and born in 1990 or later: U2 and U4, in key order.
FILTERS = {"status": "Active", "date_of_birth": {"gte": "1990-01-01"}}
WANTED = [
    {"external_id": "U2", "last_name": "=HYPERLINK(1)", "date_of_birth": date(1990, 1, 1)},
    {"external_id": "U4", "last_name": None, "date_of_birth": date(2001, 7, 15)},
]
COLUMNS = ["external_id", "Last Name", "date_of_birth"]  # by key or by label


def _imported(client: TestClient, who: str = "alice") -> None:
    job = wait_done(client, upload(client, who, csv_bytes([HEADER, *PEOPLE])).json()["id"], who)
    assert job["counts"] == {"success": len(PEOPLE), "failure": 0}, job


def _export(client: TestClient, who: str = "alice", **body: Any) -> Any:
    return client.post("/api/v1/exports", headers=auth(who), json={"dataset": "user", **body})


def _fetch(client: TestClient, url: str) -> httpx.Response:
    """A result link: the service's own (local disk) or a provider's presigned URL."""
    if url.startswith(str(client.base_url)):
        return client.get(url)  # type: ignore[return-value]
    return httpx.get(url, timeout=30)


def _result(client: TestClient, job_id: str, who: str = "alice") -> tuple[dict[str, Any], bytes]:
    link = client.get(f"/api/v1/jobs/{job_id}/result-link", headers=auth(who))
    assert link.status_code == 200, link.text
    body = link.json()
    response = _fetch(client, body["url"])
    assert response.status_code == 200, response.text
    return body, response.content


def _rows(fmt: str, data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """The header (labels or keys) and the rows of an export file, values as text or
    typed as the format keeps them."""
    if fmt == "csv":
        parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        keys = ["external_id", "last_name", "date_of_birth"]
        rows = [dict(zip(keys, r, strict=True)) for r in parsed[1:]]
        for row in rows:
            row["date_of_birth"] = date.fromisoformat(row["date_of_birth"])
            row["last_name"] = row["last_name"] or None
        return parsed[0], rows
    if fmt == "jsonl":
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        for row in rows:
            row["date_of_birth"] = date.fromisoformat(row["date_of_birth"])
        return list(rows[0]), rows
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
        assert sheet is not None
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        keys = ["external_id", "last_name", "date_of_birth"]
        rows = [dict(zip(keys, r, strict=True)) for r in values[1:]]
        for row in rows:
            row["date_of_birth"] = row["date_of_birth"].date()
        return [str(v) for v in values[0]], rows
    table = pq.read_table(io.BytesIO(data))
    return table.column_names, table.to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx", "parquet"])
def test_an_export_holds_exactly_the_filtered_rows(client: TestClient, fmt: str) -> None:
    _imported(client)
    response = _export(client, filters=FILTERS, columns=COLUMNS, format=fmt)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["kind"] == "export"
    assert response.headers["location"] == f"/api/v1/jobs/{started['id']}"
    job = wait_done(client, started["id"])
    assert job["status"] == "completed", job
    assert job["counts"] == {"success": 2, "failure": 0}
    assert job["progress"] == {"processed": 2, "total": 2, "percent": 100.0}
    expires_at = datetime.fromisoformat(job["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=71) < expires_at - datetime.now(UTC) <= timedelta(hours=72)
    link, data = _result(client, job["id"])
    assert link["file_name"] == f"user_{job['id']}.{fmt}"
    header, rows = _rows(fmt, data)
    if fmt in ("csv", "xlsx"):
        assert header == ["External ID", "Last Name", "Date of Birth"]
    else:
        assert header == ["external_id", "last_name", "date_of_birth"]
    if fmt == "csv":  # what a spreadsheet would run is escaped
        assert rows[0]["last_name"] == "'=HYPERLINK(1)"
        rows[0]["last_name"] = "=HYPERLINK(1)"
    assert rows == WANTED


def test_an_xlsx_formula_look_alike_is_text(client: TestClient) -> None:
    _imported(client)
    job = wait_done(client, _export(client, format="xlsx").json()["id"])
    _, data = _result(client, job["id"])
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if c.value == "=HYPERLINK(1)"]
    assert cells
    assert all(c.data_type == "s" for c in cells), "a string, not a formula"


def test_every_column_and_row_by_default_in_key_order(client: TestClient) -> None:
    _imported(client)
    job = wait_done(client, _export(client).json()["id"])
    _, data = _result(client, job["id"])
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[0][:3] == ["External ID", "First Name", "Last Name"]
    assert [r[0] for r in parsed[1:]] == ["U1", "U2", "U3", "U4", "U5"]
    assert job["counts"]["success"] == 5


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({"columns": ["external_id", "shoe_size"]}, "unknown_column", "shoe_size"),
        ({"filters": {"shoe_size": 3}}, "unknown_column", "shoe_size"),
        ({"filters": {"date_of_birth": {"gte": "yesterday"}}}, "invalid_filter", "Date of Birth"),
        ({"filters": {"status": "asleep"}}, "invalid_filter", "Status"),
        ({"filters": {"status": {"gt": "active"}}}, "invalid_filter", "Status"),
        ({"filters": {"email": {"like": "%"}}}, "invalid_filter", "Email"),
        ({"format": "pdf"}, "unknown_format", "pdf"),
        ({"dataset": "nope"}, "unknown_dataset", "nope"),
        ({"share_with": ["carol"]}, "unknown_user", "carol"),  # another tenant
    ],
)
def test_a_bad_request_is_a_422_naming_what_is_wrong(
    client: TestClient, body: dict[str, Any], code: str, named: str
) -> None:
    response = _export(client, **body)
    assert_error(response, 422, code)
    assert named in response.json()["error"]["message"]
    listed = client.get("/api/v1/jobs", headers=auth("alice"), params={"kind": "export"})
    assert listed.json()["items"] == [], "no job was recorded"


def test_shared_users_see_it_and_get_its_link_nobody_else_does(client: TestClient) -> None:
    _imported(client)
    job = wait_done(client, _export(client, share_with=["bob"]).json()["id"])
    listed = client.get("/api/v1/jobs", headers=auth("bob"), params={"kind": "export"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=auth("bob")).status_code == 200
    _, data = _result(client, job["id"], "bob")
    assert data.startswith(b"External ID,")
    for outsider in ("carol",):
        for path in ("", "/result-link"):
            got = client.get(f"/api/v1/jobs/{job['id']}{path}", headers=auth(outsider))
            assert_error(got, 404, "job_not_found")
        listed = client.get("/api/v1/jobs", headers=auth(outsider)).json()
        assert listed["items"] == []
    # Bob sees it, but it stays Alice's: he cannot cancel what he was only shown.
    assert client.get("/api/v1/jobs", headers=auth("bob")).json()["items"][0]["owner"] == "alice"


@pytest.fixture
def short_lived(tmp_path: Path, database_urls: tuple[str, str]) -> Iterator[TestClient]:
    """Exports that expire two seconds after they complete."""
    settings = make_settings(
        tmp_path / "data",
        database_urls,
        exports={"ttl_hours": 2 / 3600, "sweep_interval_seconds": 3600},
    )
    with make_client(settings) as test_client:
        yield test_client


def test_an_expired_export_answers_410_and_the_sweep_deletes_it(short_lived: TestClient) -> None:
    client = short_lived
    services = client.app.state.services  # type: ignore[attr-defined]
    _imported(client)
    job = wait_done(client, _export(client).json()["id"])
    link, _ = _result(client, job["id"])
    expires_at = datetime.fromisoformat(job["expires_at"].replace("Z", "+00:00"))
    link_expires = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert link_expires <= expires_at, "a link never outlives the export"
    exports = services.stores["exports"]
    assert list(exports.list_keys(f"{job['id']}/")), "the file is stored"
    # (shown to the second: the real expiry may be up to a second later)
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 1.2)
    assert_error(
        client.get(f"/api/v1/jobs/{job['id']}/result-link", headers=auth("alice")),
        410,
        "export_expired",
    )
    if link["url"].startswith(str(client.base_url)):
        assert_error(client.get(link["url"]), 403, "link_expired")
    assert services.retention.sweep() == 1
    assert list(exports.list_keys(f"{job['id']}/")) == [], "the file is gone"
    assert services.retention.sweep() == 0, "deleted once"
    after = client.get(f"/api/v1/jobs/{job['id']}", headers=auth("alice")).json()
    assert after["result_available"] is False
    assert_error(
        client.get(f"/api/v1/jobs/{job['id']}/result-link", headers=auth("alice")),
        410,
        "export_expired",
    )
    audit = client.get(
        "/api/v1/audit", headers=auth("acme_admin"), params={"job_id": job["id"]}
    ).json()
    assert "export.deleted" in [e["action"] for e in audit["items"]]


def test_the_request_every_link_and_every_download_are_audited(client: TestClient) -> None:
    _imported(client)
    job = wait_done(client, _export(client, filters=FILTERS, share_with=["bob"]).json()["id"])
    _result(client, job["id"])
    _result(client, job["id"], "bob")
    audit = client.get(
        "/api/v1/audit", headers=auth("acme_admin"), params={"job_id": job["id"]}
    ).json()
    entries = list(reversed(audit["items"]))  # oldest first
    actions = [e["action"] for e in entries]
    assert actions[0] == "export.requested"
    assert entries[0]["actor"] == "alice"
    assert entries[0]["details"]["filters"] == FILTERS
    assert entries[0]["details"]["share_with"] == ["bob"]
    assert actions.count("result.link_issued") == 2
    assert [e["actor"] for e in entries if e["action"] == "result.link_issued"] == [
        "alice",
        "bob",
    ]
    local = client.app.state.services.stores["exports"].storage == "file"  # type: ignore[attr-defined]
    if local:  # presigned provider URLs are served by the provider, not by loadbay
        assert actions.count("result.downloaded") == 2


def test_the_requester_and_the_shared_users_are_notified(
    tmp_path: Path, database_urls: tuple[str, str], receiver: Receiver
) -> None:
    hooks = [
        {"url": receiver.url + "/alice", "secret": "secret-alice", "users": ["alice"]},
        {"url": receiver.url + "/bob", "secret": "secret-bob", "users": ["bob"]},
        {"url": receiver.url + "/carol", "secret": "secret-carol", "users": ["carol"]},
    ]
    settings: Settings = make_settings(
        tmp_path / "data",
        database_urls,
        notifications={"webhooks": hooks, "first_retry_delay_seconds": 0},
    )
    with make_client(settings) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        _imported(client)
        receiver.requests.clear()
        job = wait_done(client, _export(client, share_with=["bob"]).json()["id"])
        assert services.notifications.wait_idle(10)
    got = {r.path.rsplit("/", 1)[-1]: json.loads(r.body) for r in receiver.requests}
    assert set(got) == {"alice", "bob"}, "the requester and the shared user, nobody else"
    for body in got.values():
        assert body["event"] == "job.completed"
        assert body["job"]["id"] == job["id"]
        assert body["summary"].endswith("completed: 5 rows exported")
    assert TOKENS["bob"]["tenant"] == TOKENS["alice"]["tenant"]


def test_a_file_written_batch_by_batch_is_whole(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    """Two rows a batch: the Parquet file has a row group per batch, and every row."""
    settings = make_settings(tmp_path / "data", database_urls, exports={"batch_rows": 2})
    with make_client(settings) as client:
        _imported(client)
        job = wait_done(client, _export(client, format="parquet").json()["id"])
        _, data = _result(client, job["id"])
        csv_job = wait_done(client, _export(client, format="csv").json()["id"])
        _, csv_data = _result(client, csv_job["id"])
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().column("external_id").to_pylist() == ["U1", "U2", "U3", "U4", "U5"]
    lines = csv_data.decode("utf-8").split("\r\n")
    assert [line.split(",")[0] for line in lines[1:-1]] == ["U1", "U2", "U3", "U4", "U5"]
    assert lines[-1] == ""


def test_a_list_pages_through_own_and_shared_jobs_newest_first(client: TestClient) -> None:
    _imported(client)
    made = [
        _export(client, "alice", share_with=["bob"]).json()["id"],
        _export(client, "bob").json()["id"],
        _export(client, "alice").json()["id"],  # not shared: not Bob's to see
        _export(client, "alice", share_with=["bob"]).json()["id"],
        _export(client, "bob").json()["id"],
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"kind": "export", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/jobs", headers=auth("bob"), params=params).json()
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [made[4], made[3], made[1], made[0]]
