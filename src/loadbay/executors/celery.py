"""Celery: the API process only records and enqueues; ``loadbay worker`` processes run
the jobs, on as many hosts as the broker reaches (Redis, RabbitMQ or SQS).

The message is a job id and a step name, nothing more: a worker reloads everything
else from the service database. Tasks are acknowledged late, one prefetched at a time,
and rejected (so redelivered) when a worker dies mid-task. Delivery is a wake-up call,
not the record of what is left to do: a lost or duplicated message costs time, never
data (see ``domain/steps.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

from loadbay.executors.base import StepHandler
from loadbay.executors.celery_broker import transport_options

TASK = "loadbay.run_step"


def make_celery_app(
    broker_url: str,
    queue: str,
    broker_options: Mapping[str, Any] | None = None,
    lease_seconds: float = 60,
) -> Celery:
    """The Celery app of both sides; ``broker_options`` (``[executor] broker_options``)
    become its ``broker_transport_options``, with the defaults of ``celery_broker``."""
    app = Celery("loadbay", broker=broker_url)
    app.conf.update(
        broker_transport_options=transport_options(
            broker_url, broker_options or {}, lease_seconds, queue
        ),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    return app


class CeleryExecutor:
    """Enqueues steps; runs nothing in this process."""

    runs_steps_here = False

    def __init__(
        self,
        broker_url: str,
        queue: str,
        broker_options: Mapping[str, Any] | None = None,
        lease_seconds: float = 60,
    ) -> None:
        if not broker_url:
            raise ValueError("executor.broker_url is required with executor.backend = celery")
        self.app = make_celery_app(broker_url, queue, broker_options, lease_seconds)

    def start(self) -> None:
        pass

    def submit(self, job_id: str, step: str) -> None:
        self.app.send_task(TASK, args=[job_id, step])

    def shutdown(self) -> None:
        self.app.close()


def run_worker(
    broker_url: str,
    queue: str,
    handler: StepHandler,
    concurrency: int,
    broker_options: Mapping[str, Any] | None = None,
    lease_seconds: float = 60,
) -> None:
    """Run a Celery worker that hands each step to ``handler`` (blocks until stopped)."""
    app = make_celery_app(broker_url, queue, broker_options, lease_seconds)

    @app.task(name=TASK)  # type: ignore[untyped-decorator]
    def run_step(job_id: str, step: str) -> None:
        handler(job_id, step)

    app.worker_main(
        argv=[
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            f"--queues={queue}",
        ]
    )
