"""Celery: the API process only records and enqueues; ``loadbay worker`` processes run
the jobs, on as many hosts as the broker reaches (Redis, RabbitMQ or SQS).

The message is the job id and nothing more: a worker reloads everything else from
the service database. Tasks are acknowledged late, one prefetched at a time, and
rejected (so redelivered) when a worker dies mid-task; the runner makes a rerun safe.
"""

from __future__ import annotations

from celery import Celery  # type: ignore[import-untyped]

from loadbay.executors.base import JobHandler

TASK = "loadbay.run_job"


def make_celery_app(broker_url: str, queue: str) -> Celery:
    app = Celery("loadbay", broker=broker_url)
    app.conf.update(
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
    """Enqueues job ids; runs nothing in this process."""

    resumes_on_start = False  # the broker redelivers unacknowledged jobs itself

    def __init__(self, broker_url: str, queue: str) -> None:
        if not broker_url:
            raise ValueError("executor.broker_url is required with executor.backend = celery")
        self.app = make_celery_app(broker_url, queue)

    def start(self) -> None:
        pass

    def submit(self, job_id: str) -> None:
        self.app.send_task(TASK, args=[job_id])

    def shutdown(self) -> None:
        self.app.close()


def run_worker(broker_url: str, queue: str, handler: JobHandler, concurrency: int) -> None:
    """Run a Celery worker that hands each job id to ``handler`` (blocks until stopped)."""
    app = make_celery_app(broker_url, queue)

    @app.task(name=TASK)  # type: ignore[untyped-decorator]
    def run_job(job_id: str) -> None:
        handler(job_id)

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
