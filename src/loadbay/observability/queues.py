"""How many messages wait in a Celery queue, asked of the broker with kombu.

Works for Redis and RabbitMQ (a passive ``queue_declare`` reports the count without
creating anything). Plug it into :meth:`Metrics.watch_queue` with
``functools.partial(celery_queue_depth, broker_url, queue)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

BROKER_TIMEOUT = 2.0


def _connect(url: str, timeout: float, options: Mapping[str, Any] | None = None) -> Any:
    """A connected kombu Connection (kombu is imported only when a broker is used).

    Every wait is bounded: the TCP connect, the handshake and each read (a broker that
    accepts connections and then says nothing must not hang a scrape). ``options`` are
    the broker transport options the workers use (an SQS region or queue prefix), so
    that the question is about the very queue they read."""
    from kombu import connection as kombu_connection

    factory: Any = kombu_connection.Connection  # kombu's methods are not annotated
    connection = factory(
        url,
        connect_timeout=timeout,
        transport_options={
            **(options or {}),
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        },
    )
    try:
        connection.ensure_connection(max_retries=0, timeout=timeout)
    except BaseException:
        connection.release()
        raise
    return connection


def _ready_messages(connection: Any, queue: str) -> int:
    try:
        declared = connection.default_channel.queue_declare(queue, passive=True)
    except connection.channel_errors as error:
        if str(getattr(error, "reply_code", "")) == "404":
            return 0  # no such queue: nothing waits in it
        raise
    return int(declared.message_count)


def celery_queue_depth(
    url: str,
    queue: str,
    timeout: float = BROKER_TIMEOUT,
    options: Mapping[str, Any] | None = None,
) -> int | None:
    """The messages ready in ``queue``; 0 when the queue does not exist (nothing was
    ever sent, or the broker forgot it), ``None`` when the broker cannot be reached."""
    try:
        with _connect(url, timeout, options) as connection:
            return _ready_messages(connection, queue)
    except Exception as error:
        log.warning("metrics: queue %r on the broker is not reachable: %s", queue, error)
        return None


def check_broker(
    url: str,
    queue: str,
    timeout: float = BROKER_TIMEOUT,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Raise unless the broker at ``url`` answers about ``queue`` within ``timeout``
    (virtual transports such as Redis talk to the server only once asked something)."""
    with _connect(url, timeout, options) as connection:
        _ready_messages(connection, queue)
