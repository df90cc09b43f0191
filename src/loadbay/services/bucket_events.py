"""Starting imports from S3 event notifications (S3, MinIO, Ceph), once per event.

A bucket sends ``{"Records": [...]}`` when an object is written; each ``ObjectCreated``
record that matches an ``[[events.rules]]`` entry (bucket, key prefix, key suffix) becomes
an import owned by the rule's owner and tenant, of the object where it already lies: the
configured store whose S3 bucket is the event's bucket and whose prefix the key is under.

Delivery is at least once and unordered, so an event is recorded in ``bucket_events``
under its identity (bucket, key, and the version id, or else the ETag, or else the
sequencer) before its job starts; a second delivery finds the record and starts nothing.
Two different writes of one key (different ETags) are two events and two imports.

>>> parse_records({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
...     "bucket": {"name": "in"}, "object": {"key": "a+b%C3%A9.csv", "eTag": "e1"}}}]})[0].key
'a bé.csv'
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote_plus

from loadbay.config import EventRule, EventSettings
from loadbay.db.bucket_events import BucketEventRepository
from loadbay.domain.errors import RequestError, Unprocessable
from loadbay.domain.ids import new_id
from loadbay.domain.principals import Principal
from loadbay.services.imports import ImportService
from loadbay.storage.base import Store
from loadbay.storage.registry import StoreRegistry

log = logging.getLogger(__name__)

IDENTITY_MAX = 700
"""The ``bucket_events.identity`` column's length; longer identities are hashed."""
STALE_CLAIM = timedelta(minutes=10)
"""A claim this old whose job never appeared was left by a process that died between the
claim and the job's insert; a redelivery may take it over."""


class InvalidEvent(Unprocessable):
    """A body that is not S3 event notification JSON; retrying it can never help."""

    code = "invalid_event"


class Outcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class EventRecord:
    """One record of a notification, with the key already URL-decoded."""

    event_name: str
    bucket: str
    key: str
    size: int | None
    etag: str
    sequencer: str
    version_id: str

    @property
    def created(self) -> bool:
        # AWS sends "ObjectCreated:Put", MinIO and Ceph "s3:ObjectCreated:Put".
        return self.event_name.removeprefix("s3:").startswith("ObjectCreated:")

    @property
    def identity(self) -> str:
        """Bucket, key and what tells two writes of the key apart; hashed when too long."""
        version = self.version_id or self.etag or self.sequencer
        readable = json.dumps([self.bucket, self.key, version], ensure_ascii=False)
        if len(readable) <= IDENTITY_MAX:
            return readable
        return "sha256:" + hashlib.sha256(readable.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RecordResult:
    """What became of one record: a started job, a duplicate, or why it was ignored."""

    outcome: Outcome
    bucket: str = ""
    key: str = ""
    job_id: str | None = None
    reason: str | None = None


@runtime_checkable
class BucketStore(Protocol):
    """A store inside one S3 bucket, under a key prefix (``ObjectStore`` is one)."""

    storage: str
    bucket: str
    prefix: str


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_records(document: Mapping[str, Any]) -> list[EventRecord]:
    """The records of a notification; S3's ``s3:TestEvent`` (no records) gives none."""
    records = document.get("Records")
    if records is None:
        if document.get("Event") == "s3:TestEvent":
            return []
        raise InvalidEvent("Not an S3 event notification: no 'Records'")
    if not isinstance(records, list):
        raise InvalidEvent("'Records' must be a list")
    parsed = []
    for record in records:
        try:
            s3 = record["s3"]
            obj = s3["object"]
            size = obj.get("size")
            parsed.append(
                EventRecord(
                    event_name=_text(record.get("eventName")),
                    bucket=str(s3["bucket"]["name"]),
                    key=unquote_plus(str(obj["key"])),
                    size=size if isinstance(size, int) else None,
                    etag=_text(obj.get("eTag")).strip('"'),
                    sequencer=_text(obj.get("sequencer")),
                    version_id=_text(obj.get("versionId")),
                )
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise InvalidEvent(f"A record lacks s3.bucket.name or s3.object.key: {error}") from None
    return parsed


def decode(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The notification in ``body``, unwrapped from an SNS envelope when there is one
    (a queue subscribed to an SNS topic receives ``{"Type": "Notification", "Message"}``)."""
    document: Any = body
    if isinstance(body, bytes | str):
        try:
            document = json.loads(body)
        except ValueError as error:
            raise InvalidEvent(f"The body is not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise InvalidEvent("The body is not a JSON object")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return decode(document["Message"])
    return document


def matches(rule: EventRule, record: EventRecord) -> bool:
    return (
        (not rule.bucket or rule.bucket == record.bucket)
        and record.key.startswith(rule.prefix)
        and record.key.endswith(rule.suffix)
    )


class BucketEventService:
    """Turns event notifications into imports, each event at most once.

    >>> # service = BucketEventService(settings.events, stores, settings.store_names,
    >>> #                              imports, BucketEventRepository(engine))
    >>> # service.handle(b'{"Records": [...]}')  -> [RecordResult(outcome=STARTED, ...)]
    """

    def __init__(
        self,
        settings: EventSettings,
        stores: StoreRegistry,
        store_names: Sequence[str],
        imports: ImportService,
        events: BucketEventRepository,
    ) -> None:
        self._rules = list(settings.rules)
        self._stores = [(name, stores[name]) for name in store_names]
        self._imports = imports
        self._events = events

    def handle(self, body: bytes | str | Mapping[str, Any]) -> list[RecordResult]:
        """Handle every record of one notification; raises :class:`InvalidEvent` for a body
        that is not one, and lets unexpected errors (a database down) through so that the
        delivery is retried."""
        document = decode(body)
        records = parse_records(document)
        if not records:
            log.info("bucket event without records (test event) ignored")
            return [RecordResult(Outcome.IGNORED, reason="test_event")]
        return [self.handle_record(record) for record in records]

    def handle_record(self, record: EventRecord) -> RecordResult:
        if not record.created:
            return self._ignored(record, "not_object_created")
        rule = next((r for r in self._rules if matches(r, record)), None)
        if rule is None:
            return self._ignored(record, "no_matching_rule")
        found = self._store_for(record.bucket, record.key)
        if found is None:
            log.warning(
                "bucket event for s3://%s/%s: no configured store holds it; skipped",
                record.bucket,
                record.key,
            )
            return self._ignored(record, "no_store")
        name, store, key = found
        return self._start(record, rule, name, store, key)

    def _start(
        self, record: EventRecord, rule: EventRule, store_name: str, store: Store, key: str
    ) -> RecordResult:
        identity = record.identity
        job_id = new_id()
        now = datetime.now(UTC)
        if not self._events.claim(identity, job_id, now) and not self._events.take_over(
            identity, job_id, now - STALE_CLAIM, now
        ):
            existing = self._events.job_of(identity)
            log.info("bucket event %s is a duplicate (job %s)", identity, existing)
            return RecordResult(Outcome.DUPLICATE, record.bucket, record.key, existing)
        try:
            size = store.size(key)
            principal = Principal(rule.owner, rule.tenant, frozenset({"user"}))
            job = self._imports.submit_stored(
                principal,
                store.ref(key),
                size,
                rule.dataset,
                key.rsplit("/", 1)[-1],
                job_id=job_id,
                details={
                    "bucket_event": {
                        "bucket": record.bucket,
                        "key": record.key,
                        "event": record.event_name,
                        "store": store_name,
                    }
                },
            )
        except (FileNotFoundError, RequestError) as error:
            # Permanent for this event (the object is gone, the file is empty or too large,
            # the rule names an unknown dataset): forget the claim and report why.
            self._events.release(identity, job_id)
            reason = "object_missing" if isinstance(error, FileNotFoundError) else error.code
            log.warning("bucket event s3://%s/%s rejected: %s", record.bucket, record.key, error)
            return RecordResult(Outcome.REJECTED, record.bucket, record.key, reason=reason)
        except BaseException:
            self._events.release(identity, job_id)
            raise
        log.info("bucket event s3://%s/%s started job %s", record.bucket, record.key, job.id)
        return RecordResult(Outcome.STARTED, record.bucket, record.key, job.id)

    def _store_for(self, bucket: str, key: str) -> tuple[str, Store, str] | None:
        """The store (name, store, key inside it) holding ``bucket``/``key``: the one with
        the longest matching prefix, the roles before retired stores on a tie."""
        best: tuple[int, str, Store, str] | None = None
        for name, store in self._stores:
            if not isinstance(store, BucketStore) or store.storage != "s3":
                continue
            if store.bucket != bucket:
                continue
            prefix = f"{store.prefix}/" if store.prefix else ""
            if not key.startswith(prefix) or len(key) == len(prefix):
                continue
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), name, store, key[len(prefix) :])
        return best[1:] if best else None

    @staticmethod
    def _ignored(record: EventRecord, reason: str) -> RecordResult:
        log.debug("bucket event s3://%s/%s ignored: %s", record.bucket, record.key, reason)
        return RecordResult(Outcome.IGNORED, record.bucket, record.key, reason=reason)
