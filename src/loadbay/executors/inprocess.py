"""A bounded pool of threads in the serving process: the embedded default."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from loadbay.executors.base import StepHandler

log = logging.getLogger(__name__)


class InProcessExecutor:
    """At most ``concurrency`` steps run at once; the rest wait in order of submission."""

    runs_steps_here = True

    def __init__(self, handler: StepHandler, concurrency: int) -> None:
        self._handler = handler
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="loadbay-job")

    def submit(self, job_id: str, step: str) -> None:
        if self._pool is None:
            raise RuntimeError("the executor has not been started")
        self._pool.submit(self._handler, job_id, step).add_done_callback(self._log_crash)

    @staticmethod
    def _log_crash(future: Future[None]) -> None:
        error = future.exception()
        if error is not None:
            log.error("a job handler crashed", exc_info=error)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
