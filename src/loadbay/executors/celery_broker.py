"""The broker's transport options: ``[executor] broker_options`` with loadbay's defaults.

They become Celery's ``broker_transport_options`` in the API process (which sends) and
in every ``loadbay worker`` (which receives), so both see the same queue.

The one default loadbay adds is the **visibility timeout** of the brokers that have one
(SQS, Redis): how long a received but unacknowledged message stays hidden before the
broker hands it out again. Tasks are acknowledged late, so a worker that dies mid-step
leaves its message hidden for that long; it must outlast the step lease
(``[executor] lease_seconds``), or the message comes back while the dead worker's
lease still holds and is dropped, leaving the step to the recovery sweep. The default
is the transport's own (SQS 1800 s, Redis 3600 s) or twice the lease, whichever is
longer; a configured value not longer than the lease is refused. A step that runs
longer than the visibility timeout is only woken twice: the second worker finds the
lease held and lets the message go.

For SQS the rest is kombu's: ``region``, ``wait_time_seconds`` (long polling, at most
20), ``polling_interval``, ``queue_name_prefix``, ``predefined_queues`` (then the queue
must be listed, by ``[executor] queue``), ``is_secure``, ``client-config``... An
``sqs://`` URL without a host talks to AWS with boto3's credentials (environment,
profile, instance or task role); ``sqs://key:secret@host:port`` talks to that endpoint
(``http`` unless ``is_secure = true``), which is how an emulator is reached.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from typing import Any

from loadbay.executors.base import ExecutorConfigError

SQS_MAX_VISIBILITY_SECONDS = 43_200  # 12 hours, SQS's limit
TRANSPORT_VISIBILITY_SECONDS = {"sqs": 1800, "redis": 3600, "rediss": 3600}
"""The transports with a visibility timeout, and kombu's default for each."""


def broker_transport(broker_url: str) -> str:
    """The transport a broker URL names: ``sqs``, ``redis``, ``amqp``..."""
    return broker_url.split("://", 1)[0].split("+", 1)[0].lower()


def transport_options(
    broker_url: str, options: Mapping[str, Any], lease_seconds: float, queue: str
) -> dict[str, Any]:
    """``options`` with loadbay's defaults, checked against the step lease.

    >>> transport_options("sqs://", {"region": "eu-west-1"}, 60, "loadbay")
    {'region': 'eu-west-1', 'visibility_timeout': 1800}
    >>> transport_options("amqp://guest@localhost//", {}, 60, "loadbay")
    {}
    """
    merged = dict(options)
    transport = broker_transport(broker_url)
    default = TRANSPORT_VISIBILITY_SECONDS.get(transport)
    if default is None:
        return merged
    if merged.get("visibility_timeout") in (None, ""):
        merged["visibility_timeout"] = max(default, math.ceil(2 * lease_seconds))
        if transport == "sqs":
            merged["visibility_timeout"] = min(
                merged["visibility_timeout"], SQS_MAX_VISIBILITY_SECONDS
            )
    visibility = _number(merged, "visibility_timeout")
    if visibility <= lease_seconds:
        raise ExecutorConfigError(
            f"executor.broker_options.visibility_timeout ({visibility:g}) must be longer "
            f"than executor.lease_seconds ({lease_seconds:g}): a dead worker's step would "
            "come back while its lease still holds"
        )
    if transport == "sqs":
        _check_sqs(merged, visibility, queue)
    return merged


def sqs_queue_name(options: Mapping[str, Any], queue: str) -> str:
    """The SQS name kombu gives ``queue``: ``queue_name_prefix`` + the name, with dots
    made dashes and other punctuation underscores (``.fifo`` kept)."""
    name = str(options.get("queue_name_prefix", "")) + queue
    stem, fifo = (name[: -len(".fifo")], ".fifo") if name.endswith(".fifo") else (name, "")
    table = {ord(c): "_" for c in string.punctuation if c not in "-_."} | {ord("."): "-"}
    return stem.translate(table) + fifo


def _check_sqs(options: Mapping[str, Any], visibility: float, queue: str) -> None:
    if visibility > SQS_MAX_VISIBILITY_SECONDS:
        raise ExecutorConfigError(
            f"executor.broker_options.visibility_timeout ({visibility:g}) is over SQS's "
            f"limit of {SQS_MAX_VISIBILITY_SECONDS} seconds"
        )
    if "wait_time_seconds" in options and not 0 <= _number(options, "wait_time_seconds") <= 20:
        raise ExecutorConfigError(
            f"executor.broker_options.wait_time_seconds ({options['wait_time_seconds']}) "
            "must be 0 to 20 (SQS long polling)"
        )
    predefined = options.get("predefined_queues")
    if predefined is None:
        return
    if not isinstance(predefined, Mapping):
        raise ExecutorConfigError(
            "executor.broker_options.predefined_queues must be a table: queue name -> {url}"
        )
    name = sqs_queue_name(options, queue)
    if name not in predefined:
        known = ", ".join(sorted(predefined)) or "none"
        raise ExecutorConfigError(
            f"executor.broker_options.predefined_queues does not list {name!r}, the SQS "
            f"name of executor.queue {queue!r} (listed: {known})"
        )


def _number(options: Mapping[str, Any], key: str) -> float:
    try:
        return float(options[key])
    except (TypeError, ValueError):
        raise ExecutorConfigError(
            f"executor.broker_options.{key}: {options[key]!r} is not a number of seconds"
        ) from None
