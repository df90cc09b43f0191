"""The sweep that makes the database, not the broker, the record of what is left to do.

Every few seconds, in every process that runs it (``serve`` and each ``worker``):

- an unfinished job with no steps gets its first ones (its process stopped between
  recording the job and sending it);
- a ready step that was never sent, or sent long ago and never started (a broker
  restart lost the message), is sent again;
- a step whose lease expired (its worker was killed) is sent again, to be claimed anew;
- the steps of a job that ended while some waited (a cancel) are dropped;
- a job with a dead step that was not failed (its process stopped first) is failed.

Sending twice is harmless: a step is claimed once, under its lease.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from loadbay.db.jobs import JobRepository
from loadbay.db.steps import StepRepository
from loadbay.domain.jobs import JobKind
from loadbay.pipeline.runner import StepRunner

log = logging.getLogger(__name__)


class StepRecovery:
    def __init__(
        self,
        jobs: JobRepository,
        steps: StepRepository,
        runner: StepRunner,
        send: Callable[[str, str], None],
        redeliver_after: float,
        kinds: tuple[JobKind, ...] = (JobKind.IMPORT,),
    ) -> None:
        self._jobs = jobs
        self._steps = steps
        self._runner = runner
        self._send = send
        self._redeliver_after = redeliver_after
        self._kinds = kinds

    def sweep(self) -> int:
        """One pass; returns how many steps it sent."""
        for job_id in self._steps.jobs_without_steps(self._kinds):
            job = self._jobs.get(job_id)
            if job is not None:
                log.info("resuming job %s: it has no steps yet; starting it", job_id)
                self._runner.start(job)
        for job_id in self._steps.ended_jobs_with_steps():
            self._runner.forget_ended(job_id)
        for job_id in self._steps.active_jobs_with_dead_steps(self._kinds):
            log.warning("job %s has a dead step but is still running; failing it", job_id)
            self._runner.fail_dead(job_id)
        due = self._steps.take_due(self._redeliver_after)
        for i, (job_id, name) in enumerate(due):
            log.info("resuming job %s: step %s is due and not running; sent again", job_id, name)
            try:
                self._send(job_id, name)
            except Exception:
                # The broker is down: what is left stays due for the next pass.
                for unsent_job, unsent in due[i:]:
                    self._steps.unsend(unsent_job, [unsent])
                raise
        return len(due)
