"""The queue depth gauge's source, against the real Redis and RabbitMQ on this machine."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Queue

from loadbay.observability import celery_queue_depth, check_broker
from tests.conftest import unavailable

BROKERS = {
    "redis": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/{db}"),
    "rabbitmq": ("127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672//"),
}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=list(BROKERS))
def broker_url(request: pytest.FixtureRequest) -> str:
    host, port, url = BROKERS[request.param]
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        unavailable(f"{request.param} at {host}:{port}")
    return url.format(db=secrets.randbelow(14) + 1)


@pytest.fixture
def queue(broker_url: str) -> Iterator[str]:
    """A fresh queue name, deleted after the test."""
    name = f"loadbay-depth-{secrets.token_hex(4)}"
    yield name
    with Connection(broker_url) as connection:
        Queue(name, Exchange(name), routing_key=name)(connection.default_channel).delete()


def publish(url: str, queue: str, count: int) -> None:
    declared = Queue(queue, Exchange(queue), routing_key=queue)
    with Connection(url) as connection:
        producer = connection.Producer()
        for number in range(count):
            producer.publish(
                {"n": number}, exchange=declared.exchange, routing_key=queue, declare=[declared]
            )


def test_the_depth_is_the_number_of_waiting_messages(broker_url: str, queue: str) -> None:
    assert celery_queue_depth(broker_url, queue) == 0, "a queue never declared is empty"
    publish(broker_url, queue, 7)
    assert celery_queue_depth(broker_url, queue) == 7
    with Connection(broker_url) as connection:
        simple = connection.SimpleQueue(queue)
        simple.get(timeout=5).ack()
        simple.close()
    assert celery_queue_depth(broker_url, queue) == 6
    check_broker(broker_url, queue)


@pytest.mark.parametrize("scheme", ["redis://127.0.0.1:{port}/0", "amqp://g:g@127.0.0.1:{port}//"])
def test_an_unreachable_broker_has_no_depth(scheme: str) -> None:
    url = scheme.format(port=closed_port())
    assert celery_queue_depth(url, "loadbay", timeout=1) is None
    with pytest.raises(Exception, match="refused"):
        check_broker(url, "loadbay", timeout=1)


def test_a_broker_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"amqp://g:g@127.0.0.1:{silent.getsockname()[1]}//"
        assert celery_queue_depth(url, "loadbay", timeout=0.5) is None
