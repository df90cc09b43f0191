"""The Executor protocol and the choice of backend by ``[executor] backend``.

What crosses the boundary is a job id and a step name, nothing more: the worker reads
everything else from the service database (see ``domain/steps.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

StepHandler = Callable[[str, str], None]
"""Runs one step: ``handler(job_id, step_name)``."""


class ExecutorConfigError(ValueError):
    """An unknown executor backend; the message names the setting."""


class Executor(Protocol):
    """Runs ``handler(job_id, step)`` for submitted steps, in the background.

    >>> executor.submit("01JD...", "decide/00003")  # doctest: +SKIP
    """

    runs_steps_here: bool
    """Whether this process runs the steps it submits (then every lease of a running
    step is its own, and a restart may end them at once)."""

    def start(self) -> None: ...

    def submit(self, job_id: str, step: str) -> None:
        """Queue the step; returns at once. Delivery is at least once."""
        ...

    def shutdown(self) -> None:
        """Stop taking steps and wait for the running ones to reach a safe point."""
        ...


def open_executor(
    backend: str,
    handler: StepHandler,
    concurrency: int,
    broker_url: str = "",
    queue: str = "loadbay",
    broker_options: Mapping[str, Any] | None = None,
    lease_seconds: float = 60,
) -> Executor:
    if backend == "inprocess":
        from loadbay.executors.inprocess import InProcessExecutor

        return InProcessExecutor(handler, concurrency)
    if backend == "celery":
        from loadbay.executors.celery import CeleryExecutor

        return CeleryExecutor(broker_url, queue, broker_options, lease_seconds)
    if backend == "manual":
        from loadbay.executors.manual import ManualExecutor

        return ManualExecutor(handler)
    raise ExecutorConfigError(
        f"executor.backend: unknown backend {backend!r} (known: inprocess, celery, manual)"
    )
