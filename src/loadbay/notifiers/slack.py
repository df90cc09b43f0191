"""Admin alerts to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat).

The body is ``{"text": "<summary>\\n<link|job id>"}`` in Slack's mrkdwn, where
``&``, ``<`` and ``>`` must be escaped so that a file name like ``<b>&x.csv``
shows as typed instead of breaking the message or forging a link.
"""

from __future__ import annotations

import json

import httpx

from loadbay.notifiers.base import Notification, safe_url
from loadbay.notifiers.webhook import post


class SlackNotifier:
    """Posts a one-line summary and a link to the job.

    >>> import httpx
    >>> with httpx.Client() as client:
    ...     SlackNotifier("https://hooks.slack.com/services/T0/B0/XYZ", client).target
    'https://hooks.slack.com/…'

    The webhook URL *is* the credential (the token is in its path), so ``target``
    shows only the scheme and host.
    """

    channel = "slack"

    def __init__(self, webhook_url: str, client: httpx.Client, timeout: float = 10) -> None:
        parsed = httpx.URL(webhook_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("a Slack webhook URL must be http(s)://host/...")
        self.webhook_url = webhook_url
        self.target = safe_url(webhook_url, keep_path=False)
        self._client = client
        self._timeout = timeout

    def send(self, notification: Notification) -> None:
        body = json.dumps({"text": slack_text(notification)}, ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        post(self._client, self.webhook_url, body.encode("utf-8"), headers, self._timeout)


def slack_text(notification: Notification) -> str:
    """The message: the summary, then ``<link|job id>`` on its own line."""
    label = str(notification.job.get("id") or "open the job")
    # Inside <url|label>, "|" and ">" would end the URL early: percent-encode them.
    url = notification.link.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"{escape(notification.summary)}\n<{escape(url)}|{escape(label)}>"


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: exactly ``&``, ``<`` and ``>``, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
