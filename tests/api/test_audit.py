"""The audit log: who did what, when and from where; admins only."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.support import assert_error, upload, wait_done
from tests.conftest import auth


def entries(client: TestClient, who: str = "root", **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", headers=auth(who), params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_only_admins_read_the_audit_log(client: TestClient) -> None:
    assert_error(client.get("/api/v1/audit", headers=auth("alice")), 403, "forbidden")
    assert_error(client.get("/api/v1/audit"), 401, "unauthorized")


@pytest.mark.local_results
def test_uploads_links_downloads_and_cancels_are_recorded(client: TestClient) -> None:
    job_id = upload(client).json()["id"]
    wait_done(client, job_id)
    link = client.get(
        f"/api/v1/jobs/{job_id}/result-link",
        headers={**auth("alice"), "User-Agent": "audit-test/1"},
    ).json()
    assert client.get(link["url"]).status_code == 200
    other = upload(client, "bob").json()["id"]
    client.post(f"/api/v1/jobs/{other}/cancel", headers=auth("bob"))

    log = entries(client, job_id=job_id)
    actions = [e["action"] for e in reversed(log)]  # oldest first
    assert actions == ["import.created", "result.link_issued", "result.downloaded"]
    created, issued, downloaded = reversed(log)
    assert created["actor"] == "alice"
    assert created["tenant"] == "acme"
    assert created["details"]["file_name"] == "users.csv"
    assert created["client"] == "testclient"
    assert issued["user_agent"] == "audit-test/1"
    assert issued["details"]["expires_at"]
    assert downloaded["actor"] == "signed-link"
    cancelled = entries(client, action="job.cancelled")
    assert [(e["actor"], e["job_id"]) for e in cancelled] == [("bob", other)]
    assert entries(client, user="bob", action="import.created")[0]["job_id"] == other


def test_admin_views_are_recorded_and_tenants_kept_apart(client: TestClient) -> None:
    job_id = upload(client, "alice").json()["id"]
    carol_job = upload(client, "carol").json()["id"]
    client.get(f"/api/v1/jobs/{job_id}", headers=auth("acme_admin"))
    client.get("/api/v1/jobs", headers=auth("acme_admin"), params={"status": "completed"})
    viewed = entries(client, action="job.viewed")
    assert [(e["actor"], e["job_id"]) for e in viewed] == [("dora", job_id)]
    listed = entries(client, action="jobs.listed")
    assert listed[0]["details"] == {"status": "completed"}
    # an admin of acme sees acme's entries only; the admin of all tenants sees everything
    assert carol_job not in {e["job_id"] for e in entries(client, "acme_admin")}
    assert carol_job in {e["job_id"] for e in entries(client, "root")}
    assert entries(client, "root", action="audit.viewed")


def test_audit_paging_newest_first(client: TestClient) -> None:
    for _ in range(5):
        upload(client)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "action": "import.created"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/audit", headers=auth("root"), params=params).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
