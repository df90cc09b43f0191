"""The HTTP contract of api.md, through the real app with in-process workers."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from loadbay.api.app import create_app
from loadbay.bootstrap import build_services
from loadbay.storage.local import LocalStore
from tests.api.support import USERS, assert_error, make_client, upload, wait_done
from tests.conftest import auth, make_settings


@pytest.mark.local_results
def test_import_answers_202_at_once_then_completes_with_a_report(client: TestClient) -> None:
    response = upload(client)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] == "received"
    assert job["kind"] == "import"
    assert job["dataset"] == "user"
    assert job["owner"] == "alice"
    assert job["tenant"] == "acme"
    assert job["file_name"] == "users.csv"
    assert job["file_size"] == len(USERS)
    assert job["result_available"] is False
    assert job["error"] is None
    assert job["created_at"].endswith("Z")
    done = wait_done(client, job["id"])
    assert done["status"] == "completed"
    assert done["counts"] == {"success": 2, "failure": 1}
    assert done["progress"] == {"processed": 3, "total": 3, "percent": 100.0}
    assert done["result_available"] is True
    assert done["finished_at"]

    link = client.get(f"/api/v1/jobs/{job['id']}/result-link", headers=auth("alice"))
    assert link.status_code == 200
    body = link.json()
    assert body["file_name"] == f"user_{job['id']}.csv"
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=1)
    assert body["url"].startswith("http://127.0.0.1:8000/downloads/")
    download = client.get(body["url"])  # no bearer token: the URL carries its signature
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        f'attachment; filename="user_{job["id"]}.csv"'
    )
    rows = list(csv.reader(io.StringIO(download.text, newline="")))
    assert rows == [
        ["External ID", "First Name", "Email", "Phone", "Result", "Error"],
        ["U1", "Ann", "ann@example.org", "", "Success", ""],
        ["U3", "Cy", "", "+441234567890", "Success", ""],
        [
            "U2",
            "",
            "bob@",
            "",
            "Failure",
            'First Name: a value is required; Email: "bob@" is not a valid email address',
        ],
    ]


@pytest.mark.local_results
def test_altered_or_expired_links_are_refused(client: TestClient) -> None:
    job_id = upload(client).json()["id"]
    wait_done(client, job_id)
    url = client.get(
        f"/api/v1/jobs/{job_id}/result-link", headers=auth("alice"), params={"expires_in": 1}
    ).json()["url"]
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    tampered = [
        url.replace(f"expires={query['expires'][0]}", f"expires={int(query['expires'][0]) + 3600}"),
        url.replace("signature=", "signature=A"),
        url.replace(job_id, job_id[:-1] + ("A" if job_id[-1] != "A" else "B")),
        url.split("?")[0],
    ]
    for bad in tampered:
        assert_error(client.get(bad), 403, "bad_signature")
    time.sleep(1.1)
    assert_error(client.get(url), 403, "link_expired")


def test_result_link_expiry_bounds(client: TestClient) -> None:
    job_id = upload(client).json()["id"]
    wait_done(client, job_id)
    path = f"/api/v1/jobs/{job_id}/result-link"
    too_long = client.get(path, headers=auth("alice"), params={"expires_in": 604_801})
    assert too_long.status_code == 422
    assert (
        client.get(path, headers=auth("alice"), params={"expires_in": 604_800}).status_code == 200
    )


def test_authentication(client: TestClient) -> None:
    assert_error(client.get("/api/v1/jobs"), 401, "unauthorized")
    assert_error(
        client.get("/api/v1/jobs", headers={"Authorization": "Bearer nope"}), 401, "unauthorized"
    )
    assert_error(
        client.get("/api/v1/jobs", headers={"Authorization": "Basic YTpi"}), 401, "unauthorized"
    )
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "loadbay"


def test_visibility_between_users_tenants_and_admins(client: TestClient) -> None:
    alice_job = upload(client, "alice").json()["id"]
    bob_job = upload(client, "bob").json()["id"]
    carol_job = upload(client, "carol").json()["id"]
    for job_id in (alice_job, bob_job, carol_job):
        wait_done(client, job_id, "root")

    def visible(who: str) -> set[str]:
        return {j["id"] for j in client.get("/api/v1/jobs", headers=auth(who)).json()["items"]}

    assert visible("alice") == {alice_job}
    assert visible("bob") == {bob_job}
    assert visible("acme_admin") == {alice_job, bob_job}
    assert visible("root") == {alice_job, bob_job, carol_job}
    for path in ("", "/result-link"):
        assert_error(
            client.get(f"/api/v1/jobs/{bob_job}{path}", headers=auth("alice")), 404, "job_not_found"
        )
        assert_error(
            client.get(f"/api/v1/jobs/{carol_job}{path}", headers=auth("acme_admin")),
            404,
            "job_not_found",
        )
    assert_error(
        client.get("/api/v1/jobs/01ZZZZZZZZZZZZZZZZZZZZZZZZ", headers=auth("alice")),
        404,
        "job_not_found",
    )
    assert_error(
        client.post(f"/api/v1/jobs/{bob_job}/cancel", headers=auth("alice")), 404, "job_not_found"
    )
    assert client.get(f"/api/v1/jobs/{alice_job}", headers=auth("acme_admin")).status_code == 200


def test_list_filters_and_cursor_paging(client: TestClient) -> None:
    ids = [upload(client).json()["id"] for _ in range(5)]
    ids.append(
        upload(
            client,
            dataset="location",
            data=b"Location Code,Location Name,Location Type\r\nL1,X,state\r\n",
        ).json()["id"]
    )
    for job_id in ids:
        wait_done(client, job_id)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/jobs", headers=auth("alice"), params=params).json()
        assert len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True), "newest first, each once"
    by_dataset = client.get("/api/v1/jobs", headers=auth("alice"), params={"dataset": "location"})
    assert [j["id"] for j in by_dataset.json()["items"]] == [ids[-1]]
    completed = client.get(
        "/api/v1/jobs", headers=auth("alice"), params={"status": "completed", "kind": "import"}
    ).json()["items"]
    assert len(completed) == 6
    failed = client.get("/api/v1/jobs", headers=auth("alice"), params={"status": "failed"})
    assert failed.json() == {"items": [], "next_cursor": None}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        client.get("/api/v1/jobs", headers=auth("alice"), params={"created_after": future}).json()[
            "items"
        ]
        == []
    )
    assert (
        len(
            client.get(
                "/api/v1/jobs", headers=auth("alice"), params={"created_before": future}
            ).json()["items"]
        )
        == 6
    )
    assert_error(
        client.get("/api/v1/jobs", headers=auth("alice"), params={"limit": 501}),
        422,
        "validation_error",
    )
    assert_error(
        client.get("/api/v1/jobs", headers=auth("alice"), params={"status": "nope"}),
        422,
        "validation_error",
    )
    assert_error(
        client.get("/api/v1/jobs", headers=auth("alice"), params={"cursor": "!!"}),
        422,
        "invalid_cursor",
    )


def test_upload_errors(client: TestClient) -> None:
    assert_error(upload(client, dataset="planets"), 422, "unknown_dataset")
    assert_error(upload(client, data=b""), 422, "empty_file")
    no_file = client.post("/api/v1/imports", headers=auth("alice"), data={"dataset": "user"})
    assert_error(no_file, 422, "empty_file")
    only_dataset = client.post(
        "/api/v1/imports",
        headers={**auth("alice"), "Content-Type": "multipart/form-data; boundary=B"},
        content=b'--B\r\nContent-Disposition: form-data; name="dataset"\r\n\r\nuser\r\n--B--\r\n',
    )
    assert_error(only_dataset, 422, "empty_file")
    png = client.post(
        "/api/v1/imports",
        headers=auth("alice"),
        data={"dataset": "user"},
        files={"file": ("users.csv", b"\x89PNG\r\n\x1a\n" + bytes(100), "text/csv")},
    )
    assert_error(png, 415, "unsupported_format")
    not_a_form = client.post("/api/v1/imports", headers=auth("alice"), json={"dataset": "user"})
    assert_error(not_a_form, 422, "invalid_form")
    assert client.get("/api/v1/jobs", headers=auth("alice")).json()["items"] == []


def test_upload_over_the_limit_is_refused_while_streaming(
    tmp_path,
    database_urls,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(tmp_path / "d", database_urls, limits={"max_upload_bytes": 100_000})
    with make_client(settings) as client:
        assert_error(upload(client, data=b"x" * 100_001), 413, "file_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: only streaming can catch it
            yield b'--B\r\nContent-Disposition: form-data; name="dataset"\r\n\r\nuser\r\n'
            yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            for _ in range(30):
                yield b"y" * 10_000
            yield b"\r\n--B--\r\n"

        response = client.post(
            "/api/v1/imports",
            headers={**auth("alice"), "Content-Type": "multipart/form-data; boundary=B"},
            content=chunked(),
        )
        assert_error(response, 413, "file_too_large")
        accepted = upload(client, data=USERS)
        assert accepted.status_code == 202
        wait_done(client, accepted.json()["id"])
        services = client.app.state.services  # type: ignore[attr-defined]
        uploads = [
            key for store in ("incoming", "permanent") for key in services.stores[store].list_keys()
        ]
        assert len(uploads) == 1, "only the accepted upload is kept"
        if isinstance(services.stores["incoming"], LocalStore):
            assert not list((settings.data_dir / "stores").rglob(".part-*")), "no partial file"


def test_result_not_ready_and_cancel_conflicts(tmp_path, database_urls) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "d", database_urls)
    services = build_services(settings, executor_backend="manual")
    with TestClient(create_app(services)) as client:
        job_id = upload(client).json()["id"]
        assert_error(
            client.get(f"/api/v1/jobs/{job_id}/result-link", headers=auth("alice")),
            409,
            "result_not_ready",
        )
        cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth("alice"))
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert_error(
            client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth("alice")), 409, "job_ended"
        )
        assert_error(
            client.get(f"/api/v1/jobs/{job_id}/result-link", headers=auth("alice")),
            409,
            "result_not_ready",
        )


def test_failed_job_reports_its_error(client: TestClient) -> None:
    job_id = upload(client, data=b"Email\r\nx@example.org\r\n").json()["id"]
    job = wait_done(client, job_id)
    assert job["status"] == "failed"
    assert job["error"] == {
        "code": "missing_columns",
        "message": "The header lacks required columns: External ID, First Name",
    }
    assert job["result_available"] is False


def test_datasets_and_templates(client: TestClient) -> None:
    items = client.get("/api/v1/datasets", headers=auth("alice")).json()["items"]
    assert [d["name"] for d in items] == ["location", "organisation", "user"]
    user = items[2]
    assert user["title"] == "Users"
    assert user["columns"][0] == {
        "key": "external_id",
        "label": "External ID",
        "type": "string",
        "required": True,
    }
    assert {c["key"]: c["type"] for c in user["columns"]}["date_of_birth"] == "date"
    template = client.get("/api/v1/datasets/location/template", headers=auth("alice"))
    assert template.status_code == 200
    assert template.headers["content-type"].startswith("text/csv")
    assert template.text == ("Location Code,Location Name,Location Type,Parent Location Code\r\n")
    assert_error(
        client.get("/api/v1/datasets/nope/template", headers=auth("alice")), 404, "unknown_dataset"
    )
    assert_error(client.get("/api/v1/datasets"), 401, "unauthorized")


def test_file_names_are_sanitised(client: TestClient) -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="dataset"\r\n\r\nuser\r\n'
        b'--B\r\nContent-Disposition: form-data; name="file"; '
        b'filename="..\\..\\etc/\x07pass\x1bwd.csv"\r\n\r\n' + USERS + b"\r\n--B--\r\n"
    )
    response = client.post(
        "/api/v1/imports",
        headers={**auth("alice"), "Content-Type": "multipart/form-data; boundary=B"},
        content=body,
    )
    assert response.status_code == 202, response.text
    assert response.json()["file_name"] == "passwd.csv"
