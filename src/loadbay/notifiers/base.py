"""What every notifier shares: the :class:`Notification`, the error and the protocol.

A notifier makes exactly one delivery attempt per :meth:`Notifier.send` call.
Retrying, backoff and recording attempts live outside, in
:func:`loadbay.notifiers.delivery.deliver`, so each channel stays a few lines of
"format and send" and the retry policy is the same for all of them.

>>> from loadbay.notifiers.base import Notification
>>> n = Notification(
...     id="dlv_1", event="job.completed", job={"id": "job_1"},
...     link="https://loadbay.example/jobs/job_1", summary="Import of a.csv completed",
... )
>>> n.event
'job.completed'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx


@dataclass(frozen=True)
class Notification:
    """One thing to tell someone, the same for every channel.

    ``event`` is one of ``job.completed``, ``job.failed``, ``job.quarantined``,
    ``job.cancelled`` and ``scan.unavailable``.

    ``id`` is unique per notification and stays the same across retries and
    channels' attempts, so a receiver can drop duplicates (it is sent as the
    ``X-Loadbay-Delivery`` header and the e-mail's ``Message-ID``). ``job`` is the
    job as the API shows it: a JSON-ready mapping, never a live object.
    """

    id: str
    event: str
    job: Mapping[str, Any]
    link: str
    summary: str


class NotifierError(Exception):
    """One delivery attempt failed; ``status`` (HTTP status or SMTP code) when known.

    The message is short and safe to store with the attempt: it names what went
    wrong, never credentials or the secret parts of a URL.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class Notifier(Protocol):
    """A channel that can carry a :class:`Notification`: webhook, e-mail, Slack...

    ``target`` says where it goes and is safe to show to admins and to store with
    each attempt (no passwords, tokens or query strings).
    """

    channel: str
    target: str

    def send(self, notification: Notification) -> None:
        """Make one attempt; return on success, raise :class:`NotifierError` otherwise."""
        ...


def safe_url(url: str, *, keep_path: bool = True) -> str:
    """``url`` without user info, query or fragment, and without the path if asked.

    Webhook URLs often carry their secret in the query (``?token=``) or, for Slack
    and the like, in the path itself: neither may end up in logs or attempt rows.
    """
    parsed = httpx.URL(url)
    shown = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    if not keep_path and parsed.path not in ("", "/"):
        return str(shown.copy_with(path="/")) + "…"
    return str(shown)
