"""Bucket events start imports, once per event, on ministack (S3 + SQS): the HTTP endpoint
and the SQS consumer hand S3 event notification JSON, built as S3 sends it, to the
service, which imports the object where it lies."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from loadbay.api.app import create_app
from loadbay.bootstrap import Services
from loadbay.db.bucket_events import BucketEventRepository
from loadbay.db.engine import make_engine
from loadbay.domain.jobs import JobStatus
from loadbay.events_consumer import EventConsumer, open_sqs_client, run_consumer
from loadbay.executors.manual import ManualExecutor
from loadbay.services.bucket_events import (
    BucketEventService,
    InvalidEvent,
    Outcome,
    parse_records,
)
from loadbay.storage.object_store import ObjectStore
from tests.conftest import auth, make_settings
from tests.fixtures_objects import S3Server
from tests.helpers import csv_bytes, running_services, target_rows

USERS = csv_bytes(
    [["External ID", "First Name", "Email"], ["U1", "Ann", "a@example.org"], ["U2", "", "b@"]]
)
ROLES = ("incoming", "permanent", "quarantine", "results", "exports")
KEY = "drop/Ünïcode report 1.csv"  # inside the incoming store (prefix "incoming/")


def s3_event(
    bucket: str,
    key: str,
    size: int,
    etag: str,
    name: str = "ObjectCreated:Put",
    sequencer: str = "0062E99A88DC407460",
) -> dict[str, Any]:
    """A notification as S3 sends it (event structure version 2.1): the key URL-encoded,
    spaces as '+'."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "eventName": name,
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "loadbay-imports",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


class Bay:
    """Services on S3 stores (one bucket, a prefix per role) plus the event service."""

    def __init__(self, services: Services, bucket: str) -> None:
        self.services = services
        self.bucket = bucket
        settings = services.settings
        self.events = BucketEventService(
            settings.events,
            services.stores,
            settings.store_names,
            services.imports,
            BucketEventRepository(services.engine),
        )

    def put(self, key: str = KEY, data: bytes = USERS) -> dict[str, Any]:
        """Store ``data`` in the incoming store; the event S3 would send for it."""
        with self.services.stores["incoming"].open_write(key) as writer:
            writer.write(data)
        return s3_event(self.bucket, f"incoming/{key}", len(data), hashlib.md5(data).hexdigest())

    def run_jobs(self) -> None:
        executor = self.services.executor
        assert isinstance(executor, ManualExecutor)
        executor.run_pending()


RULES = [{"bucket": "", "prefix": "incoming/drop/", "suffix": ".csv", "dataset": "user",
          "owner": "alice", "tenant": "acme"}]  # fmt: skip


@contextmanager
def bay(
    tmp_path: Path, database_urls: tuple[str, str], server: S3Server, **events: Any
) -> Iterator[Bay]:
    bucket = server.create_bucket()
    stores = {role: {"url": server.url(bucket, role), **server.options()} for role in ROLES}
    with running_services(
        tmp_path, database_urls, stores=stores, events={"rules": RULES, **events}
    ) as services:
        yield Bay(services, bucket)


def test_an_event_imports_the_object_it_names(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        event = b.put()
        assert "+" in event["Records"][0]["s3"]["object"]["key"]
        assert "%C3%9C" in event["Records"][0]["s3"]["object"]["key"]
        (result,) = b.events.handle(json.dumps(event).encode())
        assert result.outcome is Outcome.STARTED, result
        assert result.key == f"incoming/{KEY}"
        assert result.job_id is not None
        b.run_jobs()
        job = b.services.job_repository.get(result.job_id)
        assert job is not None
        assert job.status is JobStatus.COMPLETED, job.error
        assert (job.owner, job.tenant, job.dataset) == ("alice", "acme", "user")
        assert job.file_name == "Ünïcode report 1.csv"
        assert (job.counts.success, job.counts.failure) == (1, 1)
        rows = target_rows(b.services, "users", "external_id")
        assert [(r["external_id"], r["first_name"]) for r in rows] == [("U1", "Ann")]


def test_the_same_event_twice_starts_one_job(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        event = b.put()
        (first,) = b.events.handle(event)
        (second,) = b.events.handle(json.dumps(event))
        assert first.outcome is Outcome.STARTED
        assert second.outcome is Outcome.DUPLICATE
        assert second.job_id == first.job_id
        executor = b.services.executor
        assert isinstance(executor, ManualExecutor)
        assert executor.pending == [(first.job_id, "scan")]


def test_concurrent_deliveries_start_one_job(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        event = b.put()
        barrier = threading.Barrier(6)
        outcomes: list[Outcome] = []

        def deliver() -> None:
            barrier.wait()
            outcomes.extend(r.outcome for r in b.events.handle(event))

        threads = [threading.Thread(target=deliver) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == sorted([Outcome.STARTED] + [Outcome.DUPLICATE] * 5)


def test_two_writes_of_one_key_are_two_events(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        first = b.put()
        second = b.put(data=USERS + b"U3,Cy,c@example.org\r\n")
        assert (
            first["Records"][0]["s3"]["object"]["eTag"]
            != (second["Records"][0]["s3"]["object"]["eTag"])
        )
        results = [*b.events.handle(first), *b.events.handle(second), *b.events.handle(second)]
        assert [r.outcome for r in results] == [
            Outcome.STARTED,
            Outcome.STARTED,
            Outcome.DUPLICATE,
        ]
        assert results[0].job_id != results[1].job_id


def test_a_claim_left_by_a_crash_is_taken_over(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        event = b.put()
        repository = BucketEventRepository(b.services.engine)
        identity = parse_records(event)[0].identity
        assert identity == json.dumps(
            [b.bucket, f"incoming/{KEY}", hashlib.md5(USERS).hexdigest()], ensure_ascii=False
        )
        # A process died after claiming the event, before its job was inserted.
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        assert repository.claim(identity, "01JNEVERBECAMEAJOB0000000", long_ago)
        (result,) = b.events.handle(event)
        assert result.outcome is Outcome.STARTED
        assert repository.job_of(identity) == result.job_id
        # A fresh claim (a concurrent delivery still starting its job) is not taken over.
        other = json.dumps([b.bucket, "incoming/drop/x.csv", "e"])
        assert repository.claim(other, "01JSTILLSTARTING000000000")
        assert not repository.take_over(other, "01JOTHER00000000000000000", long_ago)


@pytest.mark.parametrize(
    ("key", "name", "reason"),
    [
        ("other/users.csv", "ObjectCreated:Put", "no_matching_rule"),
        ("drop/users.txt", "ObjectCreated:Put", "no_matching_rule"),
        ("drop/users.csv", "ObjectRemoved:Delete", "not_object_created"),
        ("drop/users.csv", "s3:ObjectRemoved:Delete", "not_object_created"),
    ],
)
def test_events_outside_the_rules_are_ignored(
    tmp_path: Path,
    database_urls: tuple[str, str],
    ministack: S3Server,
    key: str,
    name: str,
    reason: str,
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        event = s3_event(b.bucket, f"incoming/{key}", len(USERS), "e1", name=name)
        (result,) = b.events.handle(event)
        assert (result.outcome, result.reason) == (Outcome.IGNORED, reason)
        executor = b.services.executor
        assert isinstance(executor, ManualExecutor)
        assert executor.pending == []


def test_test_events_and_minio_names_and_errors(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        test_event = {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-11-22T08:00:00.000Z",
            "Bucket": b.bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
        (result,) = b.events.handle(json.dumps(test_event))
        assert (result.outcome, result.reason) == (Outcome.IGNORED, "test_event")
        # MinIO and Ceph name events "s3:ObjectCreated:Put".
        minio = b.put()
        minio["Records"][0]["eventName"] = "s3:ObjectCreated:Put"
        assert [r.outcome for r in b.events.handle(minio)] == [Outcome.STARTED]
        # An object deleted before its event arrived: rejected, nothing recorded.
        gone = s3_event(b.bucket, "incoming/drop/gone.csv", 10, "e9")
        (missing,) = b.events.handle(gone)
        assert (missing.outcome, missing.reason) == (Outcome.REJECTED, "object_missing")
        for body in (b"not json", b"[]", b'{"Records": [{"s3": {}}]}'):
            with pytest.raises(InvalidEvent):
                b.events.handle(body)


def test_an_event_for_a_bucket_no_store_holds_is_skipped(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b:
        event = s3_event("someone-elses-bucket", "incoming/drop/users.csv", 10, "e1")
        (result,) = b.events.handle(event)
        assert (result.outcome, result.reason) == (Outcome.IGNORED, "no_store")
        # Same bucket, a key outside every store's prefix.
        outside = s3_event(b.bucket, "elsewhere/drop/users.csv", 10, "e1")
        rules = [{**RULES[0], "prefix": ""}]
        with running_services(
            tmp_path / "again",
            database_urls,
            stores={
                "incoming": {"url": ministack.url(b.bucket, "incoming"), **ministack.options()}
            },
            events={"rules": rules},
        ) as services:
            (result,) = Bay(services, b.bucket).events.handle(outside)
        assert (result.outcome, result.reason) == (Outcome.IGNORED, "no_store")


def _client(b: Bay) -> TestClient:
    # No lifespan: the services are already running.
    return TestClient(create_app(b.services), base_url="http://127.0.0.1:8000")


def test_the_http_endpoint_is_for_admins(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    with bay(tmp_path, database_urls, ministack) as b, _client(b) as client:
        body = json.dumps(b.put()).encode()
        url = "/api/v1/events/s3"
        assert client.post(url, content=body).status_code == 401
        denied = client.post(url, content=body, headers=auth("alice"))
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"]["code"] == "forbidden"
        headers = {**auth("root"), "Content-Type": "application/json"}
        answer = client.post(url, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        (record,) = answer.json()["records"]
        assert record["outcome"] == "started"
        assert record["key"] == f"incoming/{KEY}"
        again = client.post(url, content=body, headers=headers).json()["records"][0]
        assert (again["outcome"], again["job_id"]) == ("duplicate", record["job_id"])
        invalid = client.post(url, content=b"{", headers=headers)
        assert invalid.status_code == 422
        assert invalid.json()["error"]["code"] == "invalid_event"


def test_the_sqs_consumer_imports_and_deletes_the_message(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    sqs = _sqs(ministack)
    queue_url: str = sqs.create_queue(
        QueueName=f"events-{os.getpid()}-{time.monotonic_ns()}",
        Attributes={"VisibilityTimeout": "2"},
    )["QueueUrl"]
    events = {
        "sqs_queue_url": queue_url,
        "sqs_endpoint": ministack.endpoint,
        "sqs_access_key_id": "test",
        "sqs_secret_access_key": "test",
        "wait_seconds": 1,
    }
    with bay(tmp_path, database_urls, ministack, **events) as b:
        body = json.dumps(b.put())
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)  # delivered twice
        sqs.send_message(QueueUrl=queue_url, MessageBody="not an event")  # dropped
        settings = b.services.settings.events
        stopping = threading.Event()
        consumer = EventConsumer(
            open_sqs_client(settings), queue_url, b.events.handle, stopping, settings.wait_seconds
        )
        thread = threading.Thread(target=consumer.run)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _visible(sqs, queue_url) + _in_flight(
                sqs, queue_url
            ):
                time.sleep(0.1)
        finally:
            stopping.set()
            thread.join(30)
        assert not thread.is_alive()
        assert _visible(sqs, queue_url) == 0
        assert _in_flight(sqs, queue_url) == 0
        executor = b.services.executor
        assert isinstance(executor, ManualExecutor)
        assert len(executor.pending) == 1
        b.run_jobs()
        rows = target_rows(b.services, "users", "external_id")
        assert [r["external_id"] for r in rows] == ["U1"]


def test_loadbay_events_runs_the_consumer_and_its_imports(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    """``run_consumer`` (the ``loadbay events`` command) with the in-process executor."""
    sqs = _sqs(ministack)
    queue_url: str = sqs.create_queue(QueueName=f"cli-{os.getpid()}-{time.monotonic_ns()}")[
        "QueueUrl"
    ]
    bucket = ministack.create_bucket()
    stores = {role: {"url": ministack.url(bucket, role), **ministack.options()} for role in ROLES}
    settings = make_settings(
        tmp_path / "data",
        database_urls,
        stores=stores,
        events={
            "rules": RULES,
            "sqs_queue_url": queue_url,
            "sqs_endpoint": ministack.endpoint,
            "sqs_access_key_id": "test",
            "sqs_secret_access_key": "test",
            "wait_seconds": 1,
        },
    )
    incoming = ObjectStore("incoming", ministack.url(bucket, "incoming"), ministack.options())
    with incoming.open_write(KEY) as writer:
        writer.write(USERS)
    event = s3_event(bucket, f"incoming/{KEY}", len(USERS), hashlib.md5(USERS).hexdigest())
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
    stopping = threading.Event()
    thread = threading.Thread(target=run_consumer, args=(settings, stopping))
    thread.start()
    target = make_engine(database_urls[1])
    try:
        deadline = time.monotonic() + 30
        rows: list[Any] = []
        while time.monotonic() < deadline and not rows:
            time.sleep(0.2)
            if inspect(target).has_table("users"):
                with target.connect() as connection:
                    rows = list(connection.execute(text("SELECT external_id FROM users")))
    finally:
        stopping.set()
        thread.join(30)
        target.dispose()
    assert not thread.is_alive()
    assert [r[0] for r in rows] == ["U1"]
    assert _visible(sqs, queue_url) + _in_flight(sqs, queue_url) == 0


def test_a_message_that_fails_stays_on_the_queue(
    tmp_path: Path, database_urls: tuple[str, str], ministack: S3Server
) -> None:
    sqs = _sqs(ministack)
    queue_url: str = sqs.create_queue(
        QueueName=f"failing-{os.getpid()}-{time.monotonic_ns()}",
        Attributes={"VisibilityTimeout": "1"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
    calls: list[str] = []

    def crash(body: str) -> None:
        calls.append(body)
        raise RuntimeError("the database is down")

    consumer = EventConsumer(sqs, queue_url, crash, threading.Event(), wait_seconds=1)
    assert consumer.poll_once() == 0
    assert calls == ["{}"]
    time.sleep(1.5)  # past the visibility timeout: redelivered
    assert consumer.poll_once() == 0
    assert len(calls) == 2


def _sqs(server: S3Server) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _visible(sqs: Any, queue_url: str) -> int:
    return _attribute(sqs, queue_url, "ApproximateNumberOfMessages")


def _in_flight(sqs: Any, queue_url: str) -> int:
    return _attribute(sqs, queue_url, "ApproximateNumberOfMessagesNotVisible")


def _attribute(sqs: Any, queue_url: str, name: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[name])
    return int(attributes["Attributes"][name])
