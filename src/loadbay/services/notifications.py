"""Telling owners and admins that jobs ended, on a thread of its own.

When a job ends its owner hears through each configured channel (the webhooks that
cover them, and email when their token has an address); failures, quarantines and
an unreachable scanner also go to the admin channels. Deliveries are queued and
made by a background thread with retries, every attempt recorded: a notifier that
is down never slows or fails a job.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from loadbay.api.schemas import JobOut
from loadbay.config import NotificationSettings, WebhookSettings
from loadbay.db.jobs import JobRepository
from loadbay.db.notifications import AttemptRepository
from loadbay.domain.ids import new_id
from loadbay.domain.jobs import Job, JobKind, JobStatus
from loadbay.notifiers import (
    AttemptRecord,
    EmailNotifier,
    Notification,
    Notifier,
    SlackNotifier,
    WebhookNotifier,
    deliver,
)

log = logging.getLogger(__name__)

ADMIN_EVENTS = frozenset({"job.failed", "job.quarantined", "scan.unavailable"})


@dataclass(frozen=True)
class _Delivery:
    notifier: Notifier
    notification: Notification


@dataclass(frozen=True)
class _Marker:
    """Queued behind the deliveries it waits for."""

    done: threading.Event


def summary_of(job: Job, event: str, message: str | None = None) -> str:
    what = f"{job.kind.value.capitalize()} of {job.file_name or job.id}"
    if event == "scan.unavailable":
        return f"{what} is waiting: {message or 'the malware scanner cannot be reached'}"
    if job.status is JobStatus.COMPLETED and job.kind is JobKind.EXPORT:
        return f"{what} completed: {job.counts.success} rows exported"
    if job.status is JobStatus.COMPLETED:
        return f"{what} completed: {job.counts.success} imported, {job.counts.failure} failed"
    if job.error is not None:
        return f"{what} {job.status.value}: {job.error.message}"
    return f"{what} {job.status.value}"


class NotificationService:
    def __init__(
        self,
        settings: NotificationSettings,
        jobs: JobRepository,
        attempts: AttemptRepository,
        emails: Mapping[str, str],
        public_url: str,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._attempts = attempts
        self._emails = emails  # user -> address
        self._public_url = public_url.rstrip("/")
        self._client = httpx.Client(trust_env=False)
        self._queue: queue.Queue[_Delivery | _Marker | None] = queue.Queue()
        self._stop = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loadbay-notifier", daemon=True)
        self._thread.start()

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop after the queued deliveries, waiting at most ``drain_seconds``."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(drain_seconds)
            self._stop.set()
            self._thread.join(drain_seconds)
        self._client.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery was made (for tests and shutdown)."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        return done.wait(timeout)

    # What the pipeline and the API call ----------------------------------------

    def job_ended(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or not job.status.ended:
            return
        event = f"job.{job.status.value}"
        self._send(job, event, self._owner_notifiers(job))
        if event in ADMIN_EVENTS:
            self._send(job, event, self._admin_notifiers())

    def admin_alert(self, event: str, job: Job, message: str) -> None:
        self._send(job, event, self._admin_notifiers(), message)

    # ---------------------------------------------------------------------------

    def _send(
        self, job: Job, event: str, notifiers: Sequence[Notifier], message: str | None = None
    ) -> None:
        if not notifiers:
            return
        notification = Notification(
            id=new_id(),
            event=event,
            job=JobOut.of(job).model_dump(mode="json"),
            link=f"{self._public_url}/api/v1/jobs/{job.id}",
            summary=summary_of(job, event, message),
        )
        for notifier in notifiers:
            self._queue.put(_Delivery(notifier, notification))

    def _owner_notifiers(self, job: Job) -> list[Notifier]:
        """The channels of the job's owner and of the users it is shared with: each
        webhook once, one email to every address."""
        users = {job.owner, *self._jobs.shared_with(job.id)}
        notifiers: list[Notifier] = [
            self._webhook(hook)
            for hook in self._settings.webhooks
            if not hook.users or users & set(hook.users)
        ]
        addresses = sorted({a for user in users if (a := self._emails.get(user))})
        if addresses and self._settings.smtp.host:
            notifiers.append(self._email(addresses))
        return notifiers

    def _admin_notifiers(self) -> list[Notifier]:
        admin = self._settings.admin
        notifiers: list[Notifier] = [self._webhook(hook) for hook in admin.webhooks]
        if admin.emails and self._settings.smtp.host:
            notifiers.append(self._email(admin.emails))
        if admin.slack_webhook_url:
            notifiers.append(SlackNotifier(admin.slack_webhook_url, self._client))
        return notifiers

    def _webhook(self, hook: WebhookSettings) -> Notifier:
        return WebhookNotifier(hook.url, hook.secret, self._client)

    def _email(self, recipients: Sequence[str]) -> Notifier:
        smtp = self._settings.smtp
        return EmailNotifier(
            smtp.host,
            smtp.port,
            smtp.sender,
            recipients,
            username=smtp.username or None,
            password=smtp.password or None,
            security=smtp.security,
        )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Marker):
                item.done.set()
                continue
            self._deliver(item)

    def _deliver(self, delivery: _Delivery) -> None:
        notification = delivery.notification
        job_id = str(notification.job.get("id")) if notification.job else None

        def record(attempt: AttemptRecord) -> None:
            self._attempts.add(attempt, job_id, notification.event)

        settings = self._settings
        deliver(
            delivery.notifier,
            notification,
            attempts=settings.attempts,
            first_delay=settings.first_retry_delay_seconds,
            max_delay=settings.max_retry_delay_seconds,
            sleep=self._sleep,
            record=record,
        )

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)
