"""The Executor protocol and the choice of backend by ``[executor] backend``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

JobHandler = Callable[[str], None]


class ExecutorConfigError(ValueError):
    """An unknown executor backend; the message names the setting."""


class Executor(Protocol):
    """Runs ``handler(job_id)`` for submitted jobs, in the background.

    >>> executor.submit("01JD...")  # doctest: +SKIP
    """

    resumes_on_start: bool
    """Whether the service resubmits unfinished jobs when it starts (a broker that
    redelivers unacknowledged jobs makes that unnecessary)."""

    def start(self) -> None: ...

    def submit(self, job_id: str) -> None:
        """Queue the job; returns at once."""
        ...

    def shutdown(self) -> None:
        """Stop taking jobs and wait for the running ones to reach a safe point."""
        ...


def open_executor(
    backend: str,
    handler: JobHandler,
    concurrency: int,
    broker_url: str = "",
    queue: str = "loadbay",
) -> Executor:
    if backend == "inprocess":
        from loadbay.executors.inprocess import InProcessExecutor

        return InProcessExecutor(handler, concurrency)
    if backend == "celery":
        from loadbay.executors.celery import CeleryExecutor

        return CeleryExecutor(broker_url, queue)
    if backend == "manual":
        from loadbay.executors.manual import ManualExecutor

        return ManualExecutor(handler)
    raise ExecutorConfigError(
        f"executor.backend: unknown backend {backend!r} (known: inprocess, celery, manual)"
    )
