"""Runs one step of one job: claim it, keep its lease alive, hand it to the job's flow,
record what came of it, and send the steps that became ready.

The runner owns everything the steps share: leases and heartbeats, attempts and
backoff, the dead-letter state, a process stopping mid-step, a job cancelled or failed
by a step, and telling the owner when a job ends. The flows (``import_flow.py``) only
say what each step does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from loadbay.db.jobs import JobRepository
from loadbay.db.steps import ClaimRefused, Lease, StepRepository
from loadbay.domain.errors import JobCancelled, JobFailure
from loadbay.domain.jobs import Job, JobError, JobKind
from loadbay.domain.steps import NewStep, Step, StepResult
from loadbay.observability import Metrics, job_context

log = logging.getLogger(__name__)


class JobEvents(Protocol):
    """Told when a job ends, so that its owner and the admins can hear of it."""

    def job_ended(self, job_id: str) -> None: ...


class StepInterrupted(Exception):
    """Stop this attempt and give the step back: the process is stopping, or the lease
    was lost to another worker."""


@dataclass(frozen=True)
class StepOutcome:
    """What a finished step hands on. ``job_ended``: the step ended the job itself
    (completed it, or a scan quarantined it)."""

    result: StepResult = field(default_factory=StepResult)
    new_steps: list[NewStep] = field(default_factory=list)
    replace_from_phase: int | None = None
    job_ended: bool = False


class Attempt:
    """What a running step may ask of its runner."""

    def __init__(self, lease: Lease, steps: StepRepository, stopping: threading.Event) -> None:
        self.lease = lease
        self._steps = steps
        self._stopping = stopping
        self.lost = threading.Event()

    def check(self) -> None:
        """Raise :class:`StepInterrupted` if the attempt must stop now."""
        if self._stopping.is_set() or self.lost.is_set():
            raise StepInterrupted(self.lease.name)

    def record(self, processed: int, success: int = 0, failure: int = 0) -> None:
        """Store the step's own progress (the flow sums it into the job's)."""
        self.check()
        if not self._steps.record_progress(self.lease, processed, success, failure):
            self.lost.set()
            raise StepInterrupted(self.lease.name)


class Flow(Protocol):
    """The steps of one kind of job."""

    def first_steps(self, job: Job) -> list[NewStep]: ...

    def run(self, job: Job, step: Step, attempt: Attempt) -> StepOutcome: ...

    def describe(self, step: Step) -> str:
        """The step in words, for the error of a job whose step died."""
        ...

    def cleanup(self, job: Job) -> None:
        """Remove what the steps left behind, once the job has ended."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempts: int) -> float:
        return float(min(self.first_delay * 2 ** max(attempts - 1, 0), self.max_delay))


def process_owner() -> str:
    """This process's name in leases: host, pid and a random part (pids are reused).
    The host name is cut to 40 characters: ``lease_owner`` holds 64."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StepRunner:
    """Runs steps handed over by the executor (``run``) or, in tests, whole jobs."""

    def __init__(
        self,
        jobs: JobRepository,
        steps: StepRepository,
        flows: Mapping[JobKind, Flow],
        events: JobEvents,
        stopping: threading.Event,
        send: Callable[[str, str], None],
        lease_seconds: float,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> None:
        self._jobs = jobs
        self._steps = steps
        self._flows = flows
        self._events = events
        self._stopping = stopping
        self._send = send
        self._heartbeat = max(lease_seconds / 3, 0.2)
        self._retry = retry
        self._metrics = metrics
        self.owner = process_owner()

    # --- starting a job ---------------------------------------------------------------

    def start(self, job: Job) -> None:
        """Record the job's first steps and send them."""
        self._steps.seed(job.id, self._flows[job.kind].first_steps(job))
        self.send_ready(job.id)

    def send_ready(self, job_id: str, names: Sequence[str] | None = None) -> None:
        """Send the job's ready steps (of ``names``, when given) that nobody sent yet.

        A send that fails (the broker is down) is logged, not raised: the steps are
        recorded, and the recovery sweep sends them once the broker is back."""
        taken = self._steps.take_unsent(job_id, names)
        for i, name in enumerate(taken):
            try:
                self._send(job_id, name)
            except Exception as error:
                self._steps.unsend(job_id, taken[i:])
                log.warning(
                    "job %s: sending step %s failed (%s); the recovery sweep sends it",
                    job_id,
                    name,
                    error,
                )
                return

    # --- one step ------------------------------------------------------------------------

    def run(self, job_id: str, name: str) -> None:
        """Run one attempt of the step, if it is the caller's to run."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        if job.status.ended:
            self._steps.forget(job_id)
            return
        claimed = self._steps.claim(job_id, name, self.owner)
        if claimed is ClaimRefused.NOTHING:
            return
        flow = self._flows[job.kind]
        if claimed is ClaimRefused.EXHAUSTED:
            dead = self._steps.get(job_id, name)
            if dead is not None:
                self._dead_letter(job, flow, dead)
            return
        assert isinstance(claimed, Step)
        with job_context(job_id, name):
            self._attempt(job, flow, claimed)

    def _attempt(self, job: Job, flow: Flow, step: Step) -> None:
        lease = Lease(job.id, step.name, self.owner)
        attempt = Attempt(lease, self._steps, self._stopping)
        beating = _Heartbeat(self._steps, attempt, self._heartbeat)
        if step.attempts > 1:
            log.info("job %s step %s: attempt %d", job.id, step.name, step.attempts)
        started = time.monotonic()
        try:
            with beating:
                outcome = flow.run(job, step, attempt)
        except StepInterrupted:
            log.info("job %s step %s interrupted; it runs again later", job.id, step.name)
            self._steps.hand_back(lease)
            return
        except JobCancelled:
            log.info("job %s was cancelled during step %s", job.id, step.name)
            self._ended(job, flow, notify=False)
            return
        except JobFailure as failure:
            log.info("job %s failed in %s: %s: %s", job.id, step.name, failure.code, failure)
            self._jobs.fail(job.id, JobError(failure.code, failure.message))
            self._ended(job, flow)
            return
        except Exception as error:
            self._failed_attempt(job, flow, step, lease, error)
            return
        seconds = time.monotonic() - started
        log.info("job %s step %s done in %.2fs", job.id, step.name, seconds)
        ready = self._steps.complete(
            lease, outcome.result, outcome.new_steps, outcome.replace_from_phase
        )
        if ready is None:
            log.warning("job %s step %s lost its lease; its result was dropped", job.id, step.name)
            return
        # Counted once the result is recorded, so that a re-run step counts once.
        self._metrics.observe_stage(job.kind.value, step.name.split("/", 1)[0], seconds)
        self._metrics.rows_decided(
            job.dataset or "", outcome.result.success, outcome.result.failure
        )
        if outcome.job_ended:
            self._ended(job, flow)
            return
        self.send_ready(job.id, ready)

    def _failed_attempt(
        self, job: Job, flow: Flow, step: Step, lease: Lease, error: Exception
    ) -> None:
        log.exception(
            "job %s step %s attempt %d failed: %s", job.id, step.name, step.attempts, error
        )
        delay = self._retry.delay(step.attempts)
        if self._steps.release(lease, f"{type(error).__name__}: {error}", delay):
            return  # the recovery sweep sends it again once the delay is over
        dead = self._steps.get(job.id, step.name)
        if dead is not None:
            self._dead_letter(job, flow, dead)

    def _dead_letter(self, job: Job, flow: Flow, step: Step) -> None:
        last = step.error or "the worker running it stopped (killed, or out of memory)"
        message = (
            f"{flow.describe(step)} failed {step.attempts} times and was given up; "
            f"the last attempt: {last}"
        )
        log.error("job %s: %s", job.id, message)
        if self._jobs.fail(job.id, JobError("step_failed", message)):
            self._ended(job, flow)

    def fail_dead(self, job_id: str) -> None:
        """Fail a running job whose step is dead (the process that recorded the step
        dead stopped before it could fail the job)."""
        job = self._jobs.get(job_id)
        dead = self._steps.dead_step(job_id)
        if job is not None and not job.status.ended and dead is not None:
            self._dead_letter(job, self._flows[job.kind], dead)

    def forget_ended(self, job_id: str) -> None:
        """Drop the waiting steps and work files of a job that ended (a cancel)."""
        job = self._jobs.get(job_id)
        if job is not None and job.status.ended:
            self._ended(job, self._flows[job.kind], notify=False)

    def _ended(self, job: Job, flow: Flow, notify: bool = True) -> None:
        self._steps.forget(job.id)
        try:
            flow.cleanup(job)
        except Exception:
            log.exception("job %s: cleaning up its work files failed", job.id)
        if notify:
            self._events.job_ended(job.id)

    # --- whole jobs, in this thread (tests and tools) ----------------------------------

    def run_job(self, job_id: str) -> None:
        """Run the job's ready steps here, one after another, until none is left."""
        while True:
            job = self._jobs.get(job_id)
            if job is None or job.status.ended:
                self._steps.forget(job_id)
                return
            ready = self._steps.ready_names(job_id)
            if not ready:
                return
            for name in ready:
                self.run(job_id, name)


class _Heartbeat:
    """Renews the attempt's lease on a thread until the block ends; marks it lost when
    another worker has taken the step."""

    def __init__(self, steps: StepRepository, attempt: Attempt, interval: float) -> None:
        self._steps = steps
        self._attempt = attempt
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="loadbay-lease", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._interval):
            try:
                if not self._steps.renew(self._attempt.lease):
                    self._attempt.lost.set()
                    return
            except Exception:
                log.warning("renewing the lease of %s failed", self._attempt.lease, exc_info=True)
