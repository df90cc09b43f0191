"""Steps wait until :meth:`ManualExecutor.run_pending` is called: the test double."""

from __future__ import annotations

from loadbay.executors.base import StepHandler


class ManualExecutor:
    runs_steps_here = True

    def __init__(self, handler: StepHandler) -> None:
        self._handler = handler
        self.pending: list[tuple[str, str]] = []

    def start(self) -> None:
        pass

    def submit(self, job_id: str, step: str) -> None:
        self.pending.append((job_id, step))

    def run_pending(self) -> None:
        """Run the queued steps, and those they queue, until none is left."""
        while self.pending:
            self._handler(*self.pending.pop(0))

    def shutdown(self) -> None:
        self.pending.clear()
