"""E-mail over SMTP: one multipart/alternative message (plain text and HTML).

Both parts carry the summary, the key job fields and the link. Every value from
the job is HTML-escaped in the HTML part (file names come from the public), and
the subject is cleaned of line breaks so no value can add a header.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Literal

from loadbay.notifiers.base import Notification, NotifierError

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "ssl"]

VERBS = {
    "job.completed": "completed",
    "job.failed": "failed",
    "job.quarantined": "quarantined",
    "job.cancelled": "cancelled",
    "scan.unavailable": "could not be scanned",
}
SUBJECT_LIMIT = 200


class EmailNotifier:
    """Sends each notification to fixed recipients through one SMTP server.

    >>> notifier = EmailNotifier("smtp.example", 587, "loadbay@example.com",
    ...                          ["ops@example.com"], security="starttls")
    >>> notifier.target
    'ops@example.com'

    ``security``: ``"none"`` (plain SMTP, e.g. a local relay), ``"starttls"``
    (upgrade on port 587) or ``"ssl"`` (implicit TLS on port 465). TLS checks the
    server's certificate against ``ssl_context`` (default: the system CAs). The
    connection is opened per attempt: notifications are rare, and a long-lived
    SMTP session would need its own keep-alive and reconnect logic.
    """

    channel = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        security: Security = "none",
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"security must be none, starttls or ssl, not {security!r}")
        if not recipients:
            raise ValueError("an e-mail notifier needs at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.target = ", ".join(self.recipients)
        self._username = username
        self._password = password
        self._security = security
        self._timeout = timeout
        self._ssl_context = ssl_context

    def send(self, notification: Notification) -> None:
        message = build_message(notification, self.sender, self.recipients)
        try:
            with self._connect() as smtp:
                if self._username is not None:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(message, self.sender, self.recipients)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise NotifierError(
                "all recipients refused", status=codes[0] if codes else None
            ) from error
        except smtplib.SMTPResponseException as error:
            reply = _text(error.smtp_error)
            raise NotifierError(
                f"SMTP {error.smtp_code}: {reply}", status=error.smtp_code
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            # OSError covers refused connections, timeouts and TLS failures.
            raise NotifierError(f"{type(error).__name__}: {error}") from error
        if refused:
            # Some recipients got it: retrying would send them a duplicate.
            log.warning("notification %s refused for %s", notification.id, sorted(refused))

    def _connect(self) -> smtplib.SMTP:
        if self._security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self._timeout, context=self._tls_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
        if self._security == "starttls":
            try:
                smtp.starttls(context=self._tls_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _tls_context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()


def build_message(
    notification: Notification, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    """The message for ``notification``; its ``Message-ID`` is stable across retries."""
    message = EmailMessage()
    message["Subject"] = subject(notification)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = sender.rpartition("@")[2] or "loadbay.invalid"
    message["Message-ID"] = f"<{_one_line(notification.id)}@{domain}>"
    message["X-Loadbay-Event"] = _one_line(notification.event)
    message["X-Loadbay-Delivery"] = _one_line(notification.id)
    message.set_content(plain_text(notification))
    message.add_alternative(html_text(notification), subtype="html")
    return message


def subject(notification: Notification) -> str:
    """``[loadbay] Import of users.csv completed``, from the job's kind and file name."""
    job = notification.job
    kind = str(job.get("kind") or "job").capitalize()
    what = job.get("file_name") or job.get("id") or "unknown"
    verb = VERBS.get(notification.event, notification.event)
    return _one_line(f"[loadbay] {kind} of {what} {verb}")[:SUBJECT_LIMIT]


def plain_text(notification: Notification) -> str:
    lines = [notification.summary, ""]
    lines += [f"{label}: {value}" for label, value in job_fields(notification.job)]
    lines += ["", f"Open the job: {notification.link}", ""]
    return "\n".join(lines)


def html_text(notification: Notification) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><th align='left'>{esc(label)}</th><td>{esc(value)}</td></tr>"
        for label, value in job_fields(notification.job)
    )
    return (
        "<!doctype html><html><body>"
        f"<p>{esc(notification.summary)}</p>"
        f"<table>{rows}</table>"
        f'<p><a href="{esc(notification.link, quote=True)}">Open the job</a></p>'
        "</body></html>\n"
    )


def job_fields(job: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The job fields people want in an e-mail, as (label, text), when present."""
    for key, label in (
        ("id", "Job"),
        ("kind", "Kind"),
        ("dataset", "Dataset"),
        ("file_name", "File"),
        ("status", "Status"),
    ):
        if job.get(key) not in (None, ""):
            yield label, str(job[key])
    counts = job.get("counts")
    if isinstance(counts, Mapping):
        yield "Rows", f"{counts.get('success', 0)} succeeded, {counts.get('failure', 0)} failed"
    error = job.get("error")
    if isinstance(error, Mapping):
        yield "Error", f"{error.get('code')}: {error.get('message')}"
    scan = job.get("scan")
    if isinstance(scan, Mapping) and scan.get("signature"):
        yield "Signature", str(scan["signature"])
    if job.get("finished_at"):
        yield "Finished", str(job["finished_at"])


def _one_line(text: str) -> str:
    """Control characters (CR/LF above all) out of a header value."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
