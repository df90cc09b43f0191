"""Notifiers against real servers on 127.0.0.1: an HTTP receiver, aiosmtpd, dead ports.

No mocks: the webhook and Slack notifiers talk to a ``http.server`` in a thread that
records requests and answers a scripted sequence of statuses; e-mail goes to an
aiosmtpd server (plain, STARTTLS and implicit TLS, with a throwaway certificate).
``deliver`` gets a recording ``sleep`` so the backoff is asserted, not waited for.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

import loadbay.notifiers
from loadbay.notifiers import (
    AttemptRecord,
    EmailNotifier,
    Notification,
    NotifierError,
    SlackNotifier,
    WebhookNotifier,
    deliver,
    verify_signature,
)
from tests.receivers import Inbox, Receiver, free_port

SECRET = "whsec-test-0123456789"
JOB: dict[str, Any] = {
    "id": "job_01",
    "kind": "import",
    "dataset": "usérs",  # non-ASCII: the body must stay UTF-8, not \u-escaped
    "status": "completed",
    "owner": "alice",
    "tenant": "acme",
    "file_name": "<b>&x.csv",
    "file_size": 1234,
    "counts": {"success": 980, "failure": 20},
    "error": None,
    "finished_at": "2025-01-02T03:04:05Z",
}


def notification() -> Notification:
    return Notification(
        id="dlv_0001",
        event="job.completed",
        job=JOB,
        link="http://127.0.0.1:8000/jobs/job_01?tab=report&x=1",
        summary="Import of <b>&x.csv completed: 980 imported, 20 failed",
    )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


class Attempts:
    """The ``record`` and ``sleep`` callbacks of ``deliver``, remembering both."""

    def __init__(self) -> None:
        self.records: list[AttemptRecord] = []
        self.delays: list[float] = []

    def run(self, notifier: Any, note: Notification, **options: Any) -> bool:
        return deliver(
            notifier, note, sleep=self.delays.append, record=self.records.append, **options
        )


# --- webhooks ----------------------------------------------------------------------


def test_webhook_fails_twice_then_is_delivered_once(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.statuses.extend([500, 500])
    attempts = Attempts()

    delivered = attempts.run(WebhookNotifier(receiver.url, SECRET, client), notification())

    assert delivered is True
    assert [(r.attempt, r.ok, r.status) for r in attempts.records] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, None),
    ]
    assert attempts.records[0].error == "HTTP 500"
    assert attempts.records[2].error is None
    assert {(r.notification_id, r.channel, r.target) for r in attempts.records} == {
        ("dlv_0001", "webhook", receiver.url)
    }
    assert all(r.at.tzinfo == dt.UTC for r in attempts.records)
    assert attempts.delays == [1.0, 2.0]
    assert len(receiver.requests) == 3  # two refused, one accepted: delivered once
    assert {r.headers["x-loadbay-delivery"] for r in receiver.requests} == {"dlv_0001"}


def test_webhook_body_and_headers(receiver: Receiver, client: httpx.Client) -> None:
    before = int(time.time())
    WebhookNotifier(receiver.url, SECRET, client).send(notification())

    [request] = receiver.requests
    assert request.path == "/hooks/in"
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-loadbay-event"] == "job.completed"
    assert headers["x-loadbay-delivery"] == "dlv_0001"
    timestamp = int(headers["x-loadbay-timestamp"])
    assert before <= timestamp <= time.time()
    assert headers["x-loadbay-signature"].startswith("sha256=")

    payload = json.loads(request.body)
    assert list(payload) == ["id", "event", "job", "link", "summary", "sent_at"]
    note = notification()
    assert payload["id"] == note.id
    assert payload["event"] == note.event
    assert payload["job"] == JOB
    assert payload["link"] == note.link
    assert payload["summary"] == note.summary
    sent_at = dt.datetime.strptime(payload["sent_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert sent_at.replace(tzinfo=dt.UTC).timestamp() == timestamp
    # Compact and UTF-8 (not ASCII-escaped), byte for byte.
    compact = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert request.body == compact
    assert "usérs".encode() in request.body


def test_webhook_signature_verifies_and_rejects_tampering(
    receiver: Receiver, client: httpx.Client
) -> None:
    WebhookNotifier(receiver.url, SECRET, client).send(notification())
    [request] = receiver.requests
    timestamp = request.headers["x-loadbay-timestamp"]
    signature = request.headers["x-loadbay-signature"]
    body = request.body

    assert verify_signature(SECRET, timestamp, body, signature)
    assert verify_signature(SECRET.encode(), int(timestamp), body, signature)
    assert not verify_signature("not-the-secret", timestamp, body, signature)
    assert not verify_signature(SECRET, timestamp, body.replace(b"980", b"981"), signature)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), body, signature)
    assert not verify_signature(SECRET, timestamp, body, signature.removeprefix("sha256="))
    assert not verify_signature(SECRET, timestamp, body, "sha256=" + "0" * 64)
    assert not verify_signature(SECRET, "soon", body, signature)
    # A replay: the same captured request, presented later than the tolerance.
    sent = int(timestamp)
    assert verify_signature(SECRET, timestamp, body, signature, now=sent + 300)
    assert not verify_signature(SECRET, timestamp, body, signature, now=sent + 301)
    assert not verify_signature(SECRET, timestamp, body, signature, now=sent - 301)
    assert not verify_signature(SECRET, timestamp, body, signature, tolerance_s=10, now=sent + 11)


def test_every_retry_is_signed_afresh_with_the_same_delivery_id(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.statuses.append(503)
    attempts = Attempts()
    attempts.run(WebhookNotifier(receiver.url, SECRET, client), notification())

    assert len(receiver.requests) == 2
    for request in receiver.requests:
        headers = request.headers
        assert headers["x-loadbay-delivery"] == "dlv_0001"
        assert verify_signature(
            SECRET, headers["x-loadbay-timestamp"], request.body, headers["x-loadbay-signature"]
        )


def test_unreachable_receiver_is_recorded_not_raised(client: httpx.Client) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/in"
    attempts = Attempts()

    delivered = attempts.run(WebhookNotifier(url, SECRET, client), notification(), attempts=4)

    assert delivered is False
    assert [(r.attempt, r.ok, r.status) for r in attempts.records] == [
        (n, False, None) for n in (1, 2, 3, 4)
    ]
    assert all(r.error and r.error.startswith("ConnectError") for r in attempts.records)
    assert attempts.delays == [1.0, 2.0, 4.0]  # none after the last attempt


def test_backoff_is_capped(client: httpx.Client) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    attempts = Attempts()

    attempts.run(WebhookNotifier(url, SECRET, client), notification(), attempts=7, max_delay=10)
    assert attempts.delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]

    other = Attempts()
    other.run(
        WebhookNotifier(url, SECRET, client),
        notification(),
        attempts=4,
        first_delay=0.5,
        factor=3,
    )
    assert other.delays == [0.5, 1.5, 4.5]


def test_webhook_timeout_is_honoured(receiver: Receiver, client: httpx.Client) -> None:
    receiver.stall_s = 10.0  # released when the test ends
    notifier = WebhookNotifier(receiver.url, SECRET, client, timeout=0.3)

    started = time.monotonic()
    with pytest.raises(NotifierError, match=r"timed out after 0\.3s") as raised:
        notifier.send(notification())
    assert time.monotonic() - started < 3
    assert raised.value.status is None

    attempts = Attempts()
    assert attempts.run(notifier, notification(), attempts=2) is False
    assert [(r.ok, r.status) for r in attempts.records] == [(False, None), (False, None)]
    assert all("timed out" in (r.error or "") for r in attempts.records)


@pytest.mark.parametrize("status", [302, 400, 404, 410])
def test_webhook_non_2xx_is_a_failure(
    receiver: Receiver, client: httpx.Client, status: int
) -> None:
    receiver.statuses.append(status)
    with pytest.raises(NotifierError) as raised:
        WebhookNotifier(receiver.url, SECRET, client).send(notification())
    assert raised.value.status == status


def test_webhook_target_hides_credentials_and_query(client: httpx.Client) -> None:
    notifier = WebhookNotifier("https://bot:pw@hooks.example:8443/in?token=t0p#x", SECRET, client)
    assert notifier.target == "https://hooks.example:8443/in"
    with pytest.raises(ValueError, match="signing secret"):
        WebhookNotifier("https://hooks.example/in", "", client)
    with pytest.raises(ValueError, match="http"):
        WebhookNotifier("ftp://hooks.example/in", SECRET, client)


# --- Slack -------------------------------------------------------------------------


def test_slack_message_arrives_escaped(receiver: Receiver, client: httpx.Client) -> None:
    attempts = Attempts()
    notifier = SlackNotifier(receiver.url, client)

    assert attempts.run(notifier, notification()) is True

    [request] = receiver.requests
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.body) == {
        "text": "Import of &lt;b&gt;&amp;x.csv completed: 980 imported, 20 failed\n"
        "<http://127.0.0.1:8000/jobs/job_01?tab=report&amp;x=1|job_01>"
    }
    assert attempts.records[0].channel == "slack"
    assert attempts.records[0].target == f"http://127.0.0.1:{receiver.port}/…"


def test_slack_failure_is_recorded(receiver: Receiver, client: httpx.Client) -> None:
    receiver.statuses.extend([404, 404])
    attempts = Attempts()
    assert attempts.run(SlackNotifier(receiver.url, client), notification(), attempts=2) is False
    assert [r.status for r in attempts.records] == [404, 404]


# --- e-mail ------------------------------------------------------------------------


def email_notifier(port: int, **options: Any) -> EmailNotifier:
    return EmailNotifier(
        "127.0.0.1",
        port,
        "loadbay@example.com",
        ["ops@example.com", "owner@example.com"],
        timeout=5,
        **options,
    )


def test_email_arrives_as_text_and_escaped_html(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    attempts = Attempts()

    assert attempts.run(email_notifier(port), notification()) is True

    [envelope] = inbox.envelopes
    assert envelope.mail_from == "loadbay@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "owner@example.com"]
    message = inbox.message()
    assert message["Subject"] == "[loadbay] Import of <b>&x.csv completed"
    assert message["To"] == "ops@example.com, owner@example.com"
    assert message["Message-ID"] == "<dlv_0001@example.com>"
    assert message["X-Loadbay-Delivery"] == "dlv_0001"
    assert message.get_content_type() == "multipart/alternative"

    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None
    assert rich is not None
    text = plain.get_content()
    markup = rich.get_content()
    link = notification().link
    assert "Import of <b>&x.csv completed: 980 imported, 20 failed" in text
    assert "File: <b>&x.csv" in text
    assert "Rows: 980 succeeded, 20 failed" in text
    assert link in text
    assert "&lt;b&gt;&amp;x.csv" in markup
    assert "<b>&x.csv" not in markup
    assert 'href="http://127.0.0.1:8000/jobs/job_01?tab=report&amp;x=1"' in markup
    assert "usérs" in text
    assert "usérs" in markup
    assert [(r.channel, r.target, r.ok) for r in attempts.records] == [
        ("email", "ops@example.com, owner@example.com", True)
    ]


def test_email_subject_cannot_inject_headers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    job = {**JOB, "file_name": "a.csv\r\nBcc: victim@example.com"}
    note = Notification("dlv_2", "job.quarantined", job, "http://x/jobs/1", "Quarantined")

    email_notifier(port).send(note)

    message = inbox.message()
    assert message["Subject"] == "[loadbay] Import of a.csv Bcc: victim@example.com quarantined"
    assert message["Bcc"] is None
    assert inbox.envelopes[0].rcpt_tos == ["ops@example.com", "owner@example.com"]


def test_email_rejected_by_server_is_a_failure_with_the_smtp_code(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    inbox.reply = "554 5.7.1 Message rejected"
    attempts = Attempts()

    assert attempts.run(email_notifier(port), notification(), attempts=2) is False
    assert [(r.ok, r.status) for r in attempts.records] == [(False, 554), (False, 554)]
    assert attempts.records[0].error == "SMTP 554: 5.7.1 Message rejected"


def test_email_server_down_is_recorded_not_raised() -> None:
    attempts = Attempts()
    assert attempts.run(email_notifier(free_port()), notification(), attempts=3) is False
    assert [(r.ok, r.status) for r in attempts.records] == [(False, None)] * 3
    assert all("ConnectionRefusedError" in (r.error or "") for r in attempts.records)
    assert attempts.delays == [1.0, 2.0]


def test_email_timeout_is_honoured() -> None:
    # A listener that never greets: the TCP handshake completes in the kernel.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        notifier = EmailNotifier(
            "127.0.0.1", silent.getsockname()[1], "a@example.com", ["b@example.com"], timeout=0.3
        )
        started = time.monotonic()
        with pytest.raises(NotifierError, match="timed out"):
            notifier.send(notification())
        assert time.monotonic() - started < 3


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls_with_login(tmp_path: Path, security: str) -> None:
    cert_file, key_file = make_certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        # handled=False: aiosmtpd itself answers 535 on a wrong password.
        return AuthResult(success=data.password == b"hunter2", handled=False)

    inbox = Inbox()
    port = free_port()
    tls: dict[str, Any] = (
        {"tls_context": server_tls, "require_starttls": True}
        if security == "starttls"
        # Implicit TLS: the whole session is encrypted, aiosmtpd's STARTTLS check n/a.
        else {"ssl_context": server_tls, "auth_require_tls": False}
    )
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticator, **tls
    )
    controller.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert_file))
        good = email_notifier(
            port,
            security=security,
            username="loadbay",
            password="hunter2",
            ssl_context=client_tls,
        )
        good.send(notification())
        assert inbox.message()["Subject"] == "[loadbay] Import of <b>&x.csv completed"
        assert logins == [(b"loadbay", b"hunter2")]

        bad = email_notifier(
            port, security=security, username="loadbay", password="nope", ssl_context=client_tls
        )
        with pytest.raises(NotifierError) as raised:
            bad.send(notification())
        assert raised.value.status == 535

        # The system CAs do not trust the throwaway certificate: refused, not downgraded.
        untrusted = email_notifier(port, security=security)
        with pytest.raises(NotifierError, match="SSLCertVerificationError"):
            untrusted.send(notification())
    finally:
        controller.stop()


# --- deliver, whatever the notifier does -------------------------------------------


class Broken:
    """A notifier with a bug: raises something that is not a NotifierError."""

    channel = "webhook"
    target = "http://127.0.0.1/broken"

    def send(self, notification: Notification) -> None:
        raise RuntimeError("bug in a notifier")


def test_a_notifier_bug_is_a_failed_delivery(caplog: pytest.LogCaptureFixture) -> None:
    attempts = Attempts()
    with caplog.at_level(logging.ERROR, logger="loadbay.notifiers"):
        assert attempts.run(Broken(), notification(), attempts=2) is False
    assert [r.error for r in attempts.records] == ["RuntimeError: bug in a notifier"] * 2
    assert "raised" in caplog.text


def test_a_failing_record_is_logged_and_ignored(
    receiver: Receiver, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses.append(500)
    calls: list[AttemptRecord] = []

    def record(attempt: AttemptRecord) -> None:
        calls.append(attempt)
        raise OSError("database is down")

    with caplog.at_level(logging.ERROR, logger="loadbay.notifiers"):
        delivered = deliver(
            WebhookNotifier(receiver.url, SECRET, client),
            notification(),
            sleep=lambda seconds: None,
            record=record,
        )
    assert delivered is True
    assert [c.attempt for c in calls] == [1, 2]
    assert "could not record attempt 1 of dlv_0001" in caplog.text
    assert len(receiver.requests) == 2


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        deliver(Broken(), notification(), attempts=0, record=lambda attempt: None)


def test_public_api() -> None:
    assert sorted(loadbay.notifiers.__all__) == [
        "AttemptRecord",
        "EmailNotifier",
        "Notification",
        "Notifier",
        "NotifierError",
        "SlackNotifier",
        "WebhookNotifier",
        "deliver",
        "verify_signature",
    ]
    for name in loadbay.notifiers.__all__:
        assert getattr(loadbay.notifiers, name) is not None
    assert isinstance(Broken(), loadbay.notifiers.Notifier)
