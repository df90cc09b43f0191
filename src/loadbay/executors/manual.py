"""Jobs wait until :meth:`ManualExecutor.run_pending` is called: the test double."""

from __future__ import annotations

from loadbay.executors.base import JobHandler


class ManualExecutor:
    resumes_on_start = True

    def __init__(self, handler: JobHandler) -> None:
        self._handler = handler
        self.pending: list[str] = []

    def start(self) -> None:
        pass

    def submit(self, job_id: str) -> None:
        self.pending.append(job_id)

    def run_pending(self) -> None:
        while self.pending:
            self._handler(self.pending.pop(0))

    def shutdown(self) -> None:
        self.pending.clear()
