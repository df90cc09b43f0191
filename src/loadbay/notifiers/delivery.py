"""Retries with exponential backoff around one notifier, recording every attempt.

This is the only place that knows about retries, so every channel gets the same
policy, and the only place that swallows failures: a notifier that is down must
never break the job that triggered it. Callers run :func:`deliver` off the job's
thread (it sleeps between attempts) and persist each :class:`AttemptRecord`.

>>> from loadbay.notifiers.base import Notification, NotifierError
>>> class Down:
...     channel, target = "webhook", "http://127.0.0.1:9/"
...     def send(self, notification): raise NotifierError("HTTP 503", status=503)
>>> records, delays = [], []
>>> n = Notification("dlv_1", "job.failed", {"id": "job_1"}, "http://x/jobs/job_1", "Failed")
>>> deliver(Down(), n, attempts=4, sleep=delays.append, record=records.append)
False
>>> delays, [r.status for r in records]
([1.0, 2.0, 4.0], [503, 503, 503, 503])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from loadbay.notifiers.base import Notification, Notifier, NotifierError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptRecord:
    """One delivery attempt, successful or not, as the caller should store it.

    ``status`` is the HTTP status or SMTP code when there was one; ``error`` is a
    short reason on failure (None on success); ``at`` is when the attempt ended.
    """

    notification_id: str
    channel: str
    target: str
    attempt: int
    ok: bool
    status: int | None
    error: str | None
    at: datetime


def deliver(
    notifier: Notifier,
    notification: Notification,
    *,
    attempts: int = 5,
    first_delay: float = 1.0,
    factor: float = 2.0,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    record: Callable[[AttemptRecord], None],
) -> bool:
    """Try up to ``attempts`` times; return whether ``notification`` got through.

    Waits ``first_delay``, ``first_delay * factor``, ... (each at most
    ``max_delay``) between attempts, never after the last one. Never raises for a
    failed delivery, nor when ``record`` raises (that is logged).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        ok, status, error = _attempt(notifier, notification)
        _record(
            record,
            AttemptRecord(
                notification_id=notification.id,
                channel=notifier.channel,
                target=notifier.target,
                attempt=attempt,
                ok=ok,
                status=status,
                error=error,
                at=datetime.now(UTC),
            ),
        )
        if ok:
            return True
        if attempt < attempts:
            sleep(backoff(attempt, first_delay, factor, max_delay))
    log.warning(
        "notification %s via %s to %s not delivered after %d attempts",
        notification.id,
        notifier.channel,
        notifier.target,
        attempts,
    )
    return False


def backoff(attempt: int, first_delay: float, factor: float, max_delay: float) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    delay = min(first_delay, max_delay)
    for _ in range(attempt - 1):  # a loop, not factor ** n: no overflow on long runs
        delay = min(delay * factor, max_delay)
    return float(delay)


def _attempt(notifier: Notifier, notification: Notification) -> tuple[bool, int | None, str | None]:
    try:
        notifier.send(notification)
    except NotifierError as error:
        return False, error.status, str(error)
    except Exception as error:
        # A bug in a notifier is still only a failed delivery for the job.
        log.exception("notifier %s to %s raised", notifier.channel, notifier.target)
        return False, None, f"{type(error).__name__}: {error}"
    return True, None, None


def _record(record: Callable[[AttemptRecord], None], attempt: AttemptRecord) -> None:
    try:
        record(attempt)
    except Exception:
        log.exception("could not record attempt %d of %s", attempt.attempt, attempt.notification_id)
