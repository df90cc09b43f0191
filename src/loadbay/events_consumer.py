"""``loadbay events``: start imports from S3 event notifications read off an SQS queue.

The consumer long-polls ``[events] sqs_queue_url`` and hands each message body to
:class:`~loadbay.services.bucket_events.BucketEventService`. A message is deleted only
after it was handled, so a crash (or a database outage) leaves it on the queue and SQS
redelivers it after its visibility timeout; the service's ``bucket_events`` record makes
that redelivery start nothing twice. A body that is not an event notification at all is
logged and deleted: redelivering it could never succeed.

boto3 is imported only here (``pip install boto3``), so the API process does not need it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from loadbay.config import EventSettings, Settings
from loadbay.services.bucket_events import InvalidEvent

log = logging.getLogger(__name__)

MAX_MESSAGES = 10  # SQS's maximum per ReceiveMessage
ERROR_PAUSE_SECONDS = 5.0  # after a failed receive, before polling again


class SqsClient(Protocol):
    """The two calls of a boto3 SQS client the consumer uses (tests may pass a fake)."""

    def receive_message(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def delete_message(self, **kwargs: Any) -> Any: ...


def open_sqs_client(settings: EventSettings) -> SqsClient:
    """A boto3 SQS client for the ``[events]`` SQS options (endpoint, region, keys);
    without keys, boto3's own chain (environment, instance role) applies."""
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
    except ImportError as error:
        raise RuntimeError(f"`loadbay events` needs boto3 (pip install boto3): {error}") from error
    options: dict[str, Any] = {"region_name": settings.sqs_region}
    if settings.sqs_endpoint:
        options["endpoint_url"] = settings.sqs_endpoint
    if settings.sqs_access_key_id and settings.sqs_secret_access_key:
        options["aws_access_key_id"] = settings.sqs_access_key_id
        options["aws_secret_access_key"] = settings.sqs_secret_access_key
    # The read timeout must outlast a long poll, or every quiet poll ends in an error.
    config = Config(read_timeout=settings.wait_seconds + 30, retries={"mode": "standard"})
    client: SqsClient = boto3.client("sqs", config=config, **options)
    return client


class EventConsumer:
    """Long-polls one queue until ``stopping`` is set; see the module docs.

    >>> # EventConsumer(open_sqs_client(events), events.sqs_queue_url,
    >>> #               services.bucket_events.handle, threading.Event()).run()
    """

    def __init__(
        self,
        client: SqsClient,
        queue_url: str,
        handle: Callable[[str], object],
        stopping: threading.Event,
        wait_seconds: int = 20,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._handle = handle
        self._stopping = stopping
        self._wait_seconds = wait_seconds

    def run(self) -> None:
        """Poll until stopped; a stop takes effect after the current long poll (at most
        ``wait_seconds``)."""
        log.info("consuming bucket events from %s", self._queue_url)
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("receiving from %s failed; retrying", self._queue_url)
                self._stopping.wait(ERROR_PAUSE_SECONDS)
        log.info("bucket event consumer stopped")

    def poll_once(self) -> int:
        """One long poll; returns how many messages were handled and deleted."""
        response = self._client.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=MAX_MESSAGES,
            WaitTimeSeconds=self._wait_seconds,
        )
        done = 0
        for message in response.get("Messages", []):
            if self._stopping.is_set():
                break  # left on the queue: redelivered after the visibility timeout
            if self._process(message):
                self._client.delete_message(
                    QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                done += 1
        return done

    def _process(self, message: Mapping[str, Any]) -> bool:
        """Handle one message; True if it may be deleted."""
        message_id = message.get("MessageId", "?")
        try:
            self._handle(str(message.get("Body", "")))
        except InvalidEvent as error:
            log.error("message %s is not an S3 event notification, dropped: %s", message_id, error)
            return True
        except Exception:
            log.exception("message %s failed; it stays on the queue for redelivery", message_id)
            return False
        return True


def run_consumer(settings: Settings, stopping: threading.Event | None = None) -> None:
    """Build the services and consume ``[events] sqs_queue_url`` until SIGINT/SIGTERM (or
    ``stopping``). Imports run in this process with the configured executor."""
    from loadbay.bootstrap import build_services

    events = settings.events
    if not events.sqs_queue_url:
        raise ValueError("events.sqs_queue_url: set the SQS queue to consume")
    stopping = stopping or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
    services = build_services(settings)
    services.start()
    try:
        EventConsumer(
            open_sqs_client(events),
            events.sqs_queue_url,
            services.bucket_events.handle,
            stopping,
            events.wait_seconds,
        ).run()
    finally:
        services.stop()
