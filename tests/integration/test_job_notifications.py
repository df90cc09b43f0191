"""Jobs that end notify their owners and, when something is wrong, the admins — through
a real HTTP receiver and a real SMTP server, with every attempt recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadbay.bootstrap import Services
from loadbay.domain.jobs import JobStatus
from loadbay.notifiers import verify_signature
from loadbay.scanners.base import ScannerUnavailable, ScanResult
from loadbay.scanners.base import ScanVerdict as Verdict
from loadbay.scanners.stub import StubScanner
from tests.conftest import TOKENS
from tests.helpers import csv_bytes, run_import, running_services
from tests.receivers import Inbox, Receiver

USERS = csv_bytes([["External ID", "First Name", "Email"], ["U1", "Ann", "a@example.org"]])
SECRET = "owner-hook-secret"
ADMIN_SECRET = "admin-hook-secret"


def notification_settings(receiver: Receiver, smtp_port: int) -> dict[str, Any]:
    return {
        "webhooks": [{"url": receiver.url, "secret": SECRET, "users": ["alice"]}],
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "loadbay@example.org"},
        "admin": {
            "emails": ["admins@example.org"],
            "webhooks": [{"url": receiver.url + "/admin", "secret": ADMIN_SECRET}],
            "slack_webhook_url": receiver.url + "/slack",
        },
        "first_retry_delay_seconds": 0,
        "max_retry_delay_seconds": 0,
    }


def tokens_with_email() -> dict[str, Any]:
    alice = {**TOKENS["alice"], "email": "alice@example.org"}
    return {"tokens": [alice, *(t for n, t in TOKENS.items() if n != "alice")]}


def events_at(receiver: Receiver, path_end: str) -> list[str]:
    return [
        json.loads(r.body).get("event", "slack")
        for r in receiver.requests
        if r.path.endswith(path_end)
    ]


def settle(services: Services) -> None:
    assert services.notifications.wait_idle(10)


def test_the_owner_hears_of_a_completed_import(
    tmp_path: Path, database_urls: tuple[str, str], receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    with running_services(
        tmp_path,
        database_urls,
        notifications=notification_settings(receiver, port),
        auth=tokens_with_email(),
    ) as services:
        job = run_import(services, "user", USERS)
        settle(services)
    (request,) = receiver.requests  # the owner's webhook only: nothing for admins
    body = json.loads(request.body)
    assert body["event"] == "job.completed"
    assert body["job"]["id"] == job.id
    assert body["summary"] == "Import of upload.csv completed: 1 imported, 0 failed"
    assert verify_signature(
        SECRET,
        request.headers["x-loadbay-timestamp"],
        request.body,
        request.headers["x-loadbay-signature"],
    )
    message = inbox.message()
    assert message["To"] == "alice@example.org"
    assert job.id in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_quarantined_file_alerts_the_admins_by_email_webhook_and_slack(
    tmp_path: Path, database_urls: tuple[str, str], receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    infected = ScanResult(Verdict.INFECTED, "Test.EICAR.NDB", "stub", len(USERS))
    with running_services(
        tmp_path,
        database_urls,
        scanner=StubScanner([infected]),
        notifications=notification_settings(receiver, port),
        auth=tokens_with_email(),
    ) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.QUARANTINED
        settle(services)
    assert events_at(receiver, "/hooks/in") == ["job.quarantined"]
    assert events_at(receiver, "/admin") == ["job.quarantined"]
    assert len(events_at(receiver, "/slack")) == 1
    recipients = sorted(r for e in inbox.envelopes for r in e.rcpt_tos)
    assert recipients == ["admins@example.org", "alice@example.org"]
    admin_mail = next(e for e in inbox.envelopes if e.rcpt_tos == ["admins@example.org"])
    assert b"Test.EICAR.NDB" in (admin_mail.original_content or b"")


def test_a_failing_webhook_is_retried_and_every_attempt_recorded(
    tmp_path: Path, database_urls: tuple[str, str], receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    receiver.statuses.extend([500, 500])
    settings = notification_settings(receiver, smtp[1])
    settings["admin"] = {}
    with running_services(tmp_path, database_urls, notifications=settings) as services:
        job = run_import(services, "user", USERS)
        settle(services)
        attempts = services.notifications._attempts.for_job(job.id)
    assert len(receiver.requests) == 3
    assert [(a["attempt"], a["ok"], a["status"]) for a in attempts] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, None),
    ]
    assert {a["channel"] for a in attempts} == {"webhook"}
    assert len({a["notification_id"] for a in attempts}) == 1


def test_an_unreachable_scanner_alerts_the_admins(
    tmp_path: Path, database_urls: tuple[str, str], receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    with running_services(
        tmp_path,
        database_urls,
        scanner=StubScanner([ScannerUnavailable("connection refused")]),
        scanner_settings={"retry_max_delay_seconds": 0.05, "unavailable_timeout_seconds": 0.2},
        notifications=notification_settings(receiver, smtp[1]),
    ) as services:
        job = run_import(services, "user", USERS)
        assert job.error is not None
        assert job.error.code == "scan_unavailable"
        settle(services)
    assert events_at(receiver, "/admin") == ["scan.unavailable", "job.failed"]


def test_a_notifier_that_is_down_never_fails_a_job(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    settings = {
        "webhooks": [{"url": "http://127.0.0.1:9/nothing", "secret": SECRET}],
        "first_retry_delay_seconds": 0,
        "max_retry_delay_seconds": 0,
        "attempts": 2,
    }
    with running_services(tmp_path, database_urls, notifications=settings) as services:
        job = run_import(services, "user", USERS)
        assert job.status is JobStatus.COMPLETED
        settle(services)
        attempts = services.notifications._attempts.for_job(job.id)
    assert [a["ok"] for a in attempts] == [False, False]
