"""Signed JSON webhooks, and how a receiver checks the signature.

Each attempt POSTs a compact UTF-8 JSON body::

    {"id": ..., "event": ..., "job": {...}, "link": ..., "summary": ..., "sent_at": ...}

with these headers::

    Content-Type: application/json
    X-Loadbay-Event: job.completed
    X-Loadbay-Delivery: <notification id, the same on every retry>
    X-Loadbay-Timestamp: <unix seconds of this attempt>
    X-Loadbay-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The timestamp is inside the signed bytes so a captured request cannot be replayed
later: a receiver recomputes the HMAC over ``timestamp + "." + raw body`` (the raw
bytes as received, before any JSON parsing), compares it in constant time and
rejects timestamps more than a few minutes from its clock. :func:`verify_signature`
does all three:

>>> import time
>>> body = b'{"id":"dlv_1"}'
>>> ts = str(int(time.time()))
>>> header = "sha256=" + sign("s3cret", ts, body)
>>> verify_signature("s3cret", ts, body, header)
True
>>> verify_signature("wrong", ts, body, header)
False

Every retry is signed afresh (new timestamp, same delivery id), so receivers
should deduplicate on ``X-Loadbay-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx

from loadbay.notifiers.base import Notification, NotifierError, safe_url

SIGNATURE_PREFIX = "sha256="
USER_AGENT = "loadbay-notifier"


class WebhookNotifier:
    """POSTs each notification as signed JSON to one URL; 2xx is success.

    >>> import httpx
    >>> with httpx.Client() as client:
    ...     WebhookNotifier("https://bot:pw@hooks.example/in?key=x", "s3cret", client).target
    'https://hooks.example/in'

    Redirects are not followed (a signed delivery should reach the configured
    URL or fail visibly), and the response body is never read.
    """

    channel = "webhook"

    def __init__(
        self, url: str, secret: str | bytes, client: httpx.Client, timeout: float = 10
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        _check_http_url(url)
        self.url = url
        self.target = safe_url(url)
        self._secret = secret
        self._client = client
        self._timeout = timeout

    def send(self, notification: Notification) -> None:
        now = time.time()
        timestamp = str(int(now))
        body = encode_body(notification, datetime.fromtimestamp(now, UTC))
        headers = {
            "Content-Type": "application/json",
            "X-Loadbay-Event": notification.event,
            "X-Loadbay-Delivery": notification.id,
            "X-Loadbay-Timestamp": timestamp,
            "X-Loadbay-Signature": SIGNATURE_PREFIX + sign(self._secret, timestamp, body),
        }
        post(self._client, self.url, body, headers, self._timeout)


def encode_body(notification: Notification, sent_at: datetime) -> bytes:
    """The webhook body: compact JSON, UTF-8, non-ASCII kept as is."""
    payload = {
        "id": notification.id,
        "event": notification.event,
        "job": dict(notification.job),
        "link": notification.link,
        "summary": notification.summary,
        "sent_at": sent_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` with ``secret``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = f"{timestamp}.".encode("ascii") + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    header: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (``X-Loadbay-Signature``) signs ``body`` at ``timestamp``.

    ``body`` must be the raw request bytes. False when the timestamp is not an
    integer or is more than ``tolerance_s`` seconds away from ``now`` (default: the
    current time), which stops replays; the digest comparison is constant-time.
    """
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        return False
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = sign(secret, sent, body)
    given = header.removeprefix(SIGNATURE_PREFIX).strip().lower()
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace"))


def post(
    client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> None:
    """One POST; raises :class:`NotifierError` unless the answer is 2xx.

    Shared by the JSON-over-HTTP channels. The response is streamed and closed
    unread: its status is all we need, and a receiver cannot make us buffer a
    large body. ``timeout`` applies to connecting and to each read or write.
    """
    request_headers = {"User-Agent": USER_AGENT, **headers}
    try:
        with client.stream(
            "POST",
            url,
            content=body,
            headers=request_headers,
            timeout=timeout,
            follow_redirects=False,
        ) as response:
            status = response.status_code
    except httpx.TimeoutException as error:
        raise NotifierError(f"timed out after {timeout:g}s ({type(error).__name__})") from error
    except httpx.HTTPError as error:
        raise NotifierError(f"{type(error).__name__}: {error}") from error
    if not 200 <= status < 300:
        raise NotifierError(f"HTTP {status}", status=status)


def _check_http_url(url: str) -> None:
    """Fail at configuration time, not at the first job, on a URL we cannot POST to."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ValueError(f"not a valid webhook URL: {error}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"a webhook URL must be http(s)://host/...: {safe_url(url)}")
