"""The one step of an export job: count the matching rows, then stream them from the
target into a file in the ``exports`` store, batch by batch.

A re-run (a worker died, the process restarted) starts over and writes the file
again: the store write is atomic, so a reader never sees half a file, and an
interrupted attempt leaves nothing behind.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loadbay.datasets.registry import DatasetRegistry
from loadbay.db.jobs import JobRepository
from loadbay.domain.errors import JobCancelled, JobFailure
from loadbay.domain.jobs import Counts, Job, JobStatus, Progress
from loadbay.domain.steps import NewStep, Step
from loadbay.exports.rows import count_rows, read_batches
from loadbay.exports.spec import ExportSpec
from loadbay.exports.writers import open_writer
from loadbay.pipeline.import_context import Throttle
from loadbay.pipeline.runner import Attempt, StepOutcome
from loadbay.security.keys import KeyRing
from loadbay.sinks.sql_table import SqlTarget
from loadbay.storage.registry import StoreRegistry

log = logging.getLogger(__name__)

EXPORT_STEP = "export"


@dataclass(frozen=True)
class ExportSettings:
    scratch_dir: Path
    ttl: timedelta  # from completion to deletion
    batch_rows: int = 10_000


class ExportFlow:
    """The :class:`~loadbay.pipeline.runner.Flow` of export jobs."""

    def __init__(
        self,
        jobs: JobRepository,
        datasets: DatasetRegistry,
        target: SqlTarget,
        stores: StoreRegistry,
        keys: KeyRing,
        settings: ExportSettings,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._jobs = jobs
        self._datasets = datasets
        self._target = target
        self._stores = stores
        self._keys = keys
        self._settings = settings
        self._now = now

    def first_steps(self, job: Job) -> list[NewStep]:
        return [NewStep(EXPORT_STEP, 0)]

    def describe(self, step: Step) -> str:
        return "Writing the export"

    def cleanup(self, job: Job) -> None:
        shutil.rmtree(self._settings.scratch_dir / job.id, ignore_errors=True)

    def run(self, job: Job, step: Step, attempt: Attempt) -> StepOutcome:
        jobs = self._jobs
        if not jobs.start_attempt(job.id, JobStatus.PROCESSING):
            current = jobs.get(job.id)
            if current is None or current.status is not JobStatus.PROCESSING:
                raise JobCancelled(job.id)
        dataset = self._datasets.get(job.dataset or "")
        params = jobs.params(job.id)
        if dataset is None or params is None:
            raise JobFailure(
                f"The dataset {job.dataset!r} is not configured", code="unknown_dataset"
            )
        spec = ExportSpec.from_json(dataset, params)
        table = self._target.table(dataset)
        engine = self._target.engine
        total = count_rows(engine, table, spec.conditions)
        self._progress(job, 0, total)
        store = self._stores["exports"]
        key = f"{job.id}/{job.result_file_name()}"
        scratch = self._settings.scratch_dir / job.id / f"{step.name}.{step.attempts}"
        written = 0
        often = Throttle()
        try:
            with store.open_write(key) as out:
                writer = open_writer(spec.format, out, dataset, spec.columns, scratch)
                batches = read_batches(
                    engine,
                    table,
                    dataset.key,
                    spec.columns,
                    spec.conditions,
                    self._settings.batch_rows,
                )
                with closing(batches):  # a stop mid-export releases the cursor now
                    for rows in batches:
                        attempt.check()
                        writer.write(rows)
                        written += len(rows)
                        if often():
                            attempt.record(written, written)
                            self._progress(job, written, max(total, written))
                writer.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        ref = self._keys.encrypt(store.ref(key).to_json())
        expires_at = self._now() + self._settings.ttl
        # Rows may have come or gone since the count: the total is what was written.
        if not jobs.complete(
            job.id, Progress(written, written), Counts(written, 0), ref, expires_at
        ):
            if jobs.is_completed(job.id):
                # An attempt that lost its lease completed it, with the same file under
                # the same key: leave it, and end the job here.
                return StepOutcome(job_ended=True)
            store.delete(key)  # cancelled at the last moment: keep nothing
            raise JobCancelled(job.id)
        log.info(
            "job %s: %d rows exported to %s; it expires at %s", job.id, written, key, expires_at
        )
        return StepOutcome(job_ended=True)  # (not counted as rows decided: no import)

    def _progress(self, job: Job, processed: int, total: int) -> None:
        if not self._jobs.record_progress(job.id, Progress(processed, total), Counts(processed, 0)):
            raise JobCancelled(job.id)
