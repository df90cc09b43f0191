"""Telling people that a job ended: webhooks, e-mail and Slack, with retries.

Each channel is a small :class:`Notifier` that makes one attempt;
:func:`deliver` wraps any of them with exponential backoff and records every
attempt. Nothing here touches the database or the job pipeline: the caller
builds the :class:`Notification` (ids and JSON-ready data only), runs
:func:`deliver` off the job's thread and stores the :class:`AttemptRecord` s.

>>> import httpx
>>> from loadbay.notifiers import WebhookNotifier
>>> with httpx.Client() as client:
...     WebhookNotifier("https://hooks.example/in", "s3cret", client).channel
'webhook'
"""

from loadbay.notifiers.base import Notification, Notifier, NotifierError
from loadbay.notifiers.delivery import AttemptRecord, deliver
from loadbay.notifiers.email import EmailNotifier
from loadbay.notifiers.slack import SlackNotifier
from loadbay.notifiers.webhook import WebhookNotifier, verify_signature

__all__ = [
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
