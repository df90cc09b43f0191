"""Celery on SQS: `serve` enqueues on ministack's SQS, a `loadbay worker` process runs the
import, and every message is deleted once its step ran.

The broker URL ``sqs://test:test@127.0.0.1:<port>`` is how kombu reaches an endpoint
other than AWS (the host and port of the URL; ``http`` unless ``is_secure``); the
``[executor.broker_options]`` table becomes Celery's ``broker_transport_options``.
Two ways to name the queue: kombu creates it (with ``queue_name_prefix`` and the
configured visibility timeout), or it exists already and is listed in
``predefined_queues`` (kombu then never lists or creates queues).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadbay.executors.base import ExecutorConfigError
from loadbay.executors.celery_broker import sqs_queue_name, transport_options
from tests.conftest import TOKENS
from tests.e2e.server import Server, append_section, write_config
from tests.e2e.test_celery import job_of
from tests.fixtures_objects import S3Server
from tests.helpers import csv_bytes

pytestmark = pytest.mark.e2e
ALICE = TOKENS["alice"]
VISIBILITY = 120


def sqs_client(ministack: S3Server) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=ministack.endpoint,
        region_name=ministack.region,
        aws_access_key_id=ministack.access_key_id,
        aws_secret_access_key=ministack.secret_access_key,
    )


@pytest.fixture(params=["created", "predefined"])
def broker(request: pytest.FixtureRequest, ministack: S3Server) -> tuple[str, dict[str, Any]]:
    """The broker URL and ``broker_options``; the SQS queue's name is the test's own."""
    host = ministack.endpoint.removeprefix("http://")
    url = f"sqs://{ministack.access_key_id}:{ministack.secret_access_key}@{host}"
    options: dict[str, Any] = {
        "region": ministack.region,
        "wait_time_seconds": 1,  # long polling, kept short so that the worker stops fast
        "polling_interval": 0.2,
    }
    prefix = f"lbtest-{secrets.token_hex(4)}-"
    if request.param == "created":
        options |= {"queue_name_prefix": prefix, "visibility_timeout": VISIBILITY}
    else:  # the queue exists under a name of its own; the table maps "loadbay" to it
        created = sqs_client(ministack).create_queue(
            QueueName=f"{prefix}jobs", Attributes={"VisibilityTimeout": str(VISIBILITY)}
        )
        options["predefined_queues"] = {"loadbay": {"url": created["QueueUrl"]}}
    return url, options


@pytest.fixture
def config(tmp_path: Path, database_urls: tuple[str, str], broker: tuple[str, Any]) -> Path:
    url, options = broker
    path = tmp_path / "loadbay.toml"
    write_config(path, tmp_path / "data", database_urls, [ALICE])
    append_section(path, "executor", {"backend": "celery", "broker_url": url, "queue": "loadbay"})
    plain = {k: v for k, v in options.items() if k != "predefined_queues"}
    append_section(path, "executor.broker_options", plain)
    for name, queue in options.get("predefined_queues", {}).items():
        append_section(
            path, f'executor.broker_options.predefined_queues."{name}"', {"url": queue["url"]}
        )
    return path


def queue_attributes(ministack: S3Server, options: dict[str, Any]) -> dict[str, str]:
    """The attributes of the SQS queue that ``[executor] queue = "loadbay"`` names."""
    sqs = sqs_client(ministack)
    predefined = options.get("predefined_queues", {})
    if "loadbay" in predefined:
        url = predefined["loadbay"]["url"]
    else:
        url = sqs.get_queue_url(QueueName=sqs_queue_name(options, "loadbay"))["QueueUrl"]
    attributes: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    return attributes


def test_workers_run_the_jobs_serve_enqueues_on_sqs(
    tmp_path: Path,
    config: Path,
    worker: Path,
    broker: tuple[str, dict[str, Any]],
    ministack: S3Server,
) -> None:
    server = Server(tmp_path, config).start()
    try:
        rows = [[f"U{i}", "N", f"u{i}@example.org" if i % 2 else "x@"] for i in range(60)]
        data = csv_bytes([["External ID", "First Name", "Email"], *rows])
        response = httpx.post(
            f"{server.url}/api/v1/imports",
            headers={"Authorization": f"Bearer {ALICE['token']}"},
            data={"dataset": "user"},
            files={"file": ("users.csv", data, "text/csv")},
        )
        assert response.status_code == 202
        job_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while (job := job_of(server, job_id))["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, (job, worker.read_text("utf-8", "replace"))
            time.sleep(0.2)
        assert job["status"] == "completed", job
        assert job["counts"] == {"success": 30, "failure": 30}
        worked = worker.read_text("utf-8", "replace")
        assert "Task loadbay.run_step[" in worked, "the worker ran it"
        assert "succeeded" in worked
        assert "sqs://test:**@127.0.0.1" in worked, "through SQS"
        # The probes ask about the workers' queue (prefix, predefined URL), not a
        # queue of the bare name that nobody reads.
        ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
        assert ready["checks"]["broker"] == "ok", ready
        scraped = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'loadbay_queue_depth{queue="loadbay"} 0.0' in scraped
        urls = sqs_client(ministack).list_queues().get("QueueUrls", [])
        assert not [u for u in urls if u.rsplit("/", 1)[-1] == "loadbay"], urls
    finally:
        server.stop()
    # The queue is the configured one, and every message was deleted (acknowledged).
    deadline = time.monotonic() + 10
    while True:
        attributes = queue_attributes(ministack, broker[1])
        left = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == 0, attributes
    assert attributes["VisibilityTimeout"] == str(VISIBILITY)


def test_the_visibility_timeout_outlasts_the_step_lease() -> None:
    assert transport_options("sqs://", {}, 60, "loadbay")["visibility_timeout"] == 1800
    assert transport_options("sqs://", {}, 3600, "loadbay")["visibility_timeout"] == 7200
    assert transport_options("redis://h/1", {}, 60, "q")["visibility_timeout"] == 3600
    assert transport_options("amqp://h//", {"x": 1}, 60, "q") == {"x": 1}
    with pytest.raises(ExecutorConfigError, match=r"visibility_timeout \(60\) must be longer"):
        transport_options("sqs://", {"visibility_timeout": 60}, 60, "loadbay")
    with pytest.raises(ExecutorConfigError, match="over SQS's limit"):
        transport_options("sqs://", {"visibility_timeout": 50_000}, 60, "loadbay")


def test_sqs_options_are_checked_against_the_queue() -> None:
    listed = {"predefined_queues": {"prod-loadbay": {"url": "https://sqs/1/prod-loadbay"}}}
    assert transport_options("sqs://", {**listed, "queue_name_prefix": "prod-"}, 60, "loadbay")
    with pytest.raises(ExecutorConfigError, match="does not list 'loadbay'"):
        transport_options("sqs://", listed, 60, "loadbay")
    with pytest.raises(ExecutorConfigError, match="wait_time_seconds"):
        transport_options("sqs://", {"wait_time_seconds": 30}, 60, "loadbay")
    assert sqs_queue_name({"queue_name_prefix": "a.b:"}, "jobs.fifo") == "a-b_jobs.fifo"
