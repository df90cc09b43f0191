"""Runs one import job from its stored state to an ended state.

The runner owns the cross-cutting parts: claiming the job, progress and
cancellation after every batch, turning a :class:`JobFailure` into the job's error,
and cleaning the work folder. The stages themselves (``inspect_upload``,
``RowImporter``) know none of it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from loadbay.datasets.registry import DatasetRegistry
from loadbay.db.jobs import JobRepository
from loadbay.domain.datasets import Dataset
from loadbay.domain.errors import JobCancelled, JobFailure
from loadbay.domain.jobs import Counts, Job, JobError, JobStatus, Progress
from loadbay.pipeline.batches import read_batches
from loadbay.pipeline.duplicates import repeated_keys
from loadbay.pipeline.importer import RowImporter
from loadbay.pipeline.inspect import FileShape, inspect_upload
from loadbay.pipeline.records import CsvLimits
from loadbay.pipeline.report import ReportWriter
from loadbay.pipeline.scanning import Interrupted, ScanStage
from loadbay.pipeline.sink_writer import SinkWriter
from loadbay.security.keys import KeyRing
from loadbay.sinks.base import SinkProvider
from loadbay.storage.base import StoredRef
from loadbay.storage.registry import StoreRegistry

log = logging.getLogger(__name__)


class JobEvents(Protocol):
    """Told when a job ends, so that its owner and the admins can hear of it."""

    def job_ended(self, job_id: str) -> None: ...


class JobInterrupted(Exception):
    """The process is stopping: leave the job as it is, to be resumed on the next start."""


@dataclass(frozen=True)
class RunnerSettings:
    work_dir: Path
    csv_limits: CsvLimits
    batch_rows: int = 20_000


class _ProgressHook:
    """Stores progress, and stops the job if it was cancelled meanwhile (the UPDATE then
    matches no running job) or the process is stopping.

    While the file is read, progress counts bytes (rows are not known yet) at most
    every ``interval`` seconds; then it counts rows after every committed batch.
    """

    def __init__(
        self, jobs: JobRepository, job_id: str, stopping: threading.Event, interval: float = 0.5
    ) -> None:
        self._jobs = jobs
        self._job_id = job_id
        self._stopping = stopping
        self._interval = interval
        self._last = 0.0

    def bytes_read(self, read: int) -> None:
        if time.monotonic() - self._last >= self._interval:
            self._last = time.monotonic()
            self._store(Progress(read, None), Counts())

    def __call__(self, processed: int, counts: Counts, total: int) -> None:
        self._store(Progress(processed, total), counts)

    def _store(self, progress: Progress, counts: Counts) -> None:
        if self._stopping.is_set():
            raise JobInterrupted(self._job_id)
        if not self._jobs.record_progress(self._job_id, progress, counts):
            raise JobCancelled(f"job {self._job_id} ended while running")


class ImportRunner:
    """Everything an import job needs, passed in by the composition root."""

    def __init__(
        self,
        jobs: JobRepository,
        stores: StoreRegistry,
        keys: KeyRing,
        datasets: DatasetRegistry,
        target: SinkProvider,
        settings: RunnerSettings,
        stopping: threading.Event,
        scan: ScanStage,
        events: JobEvents,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self._jobs = jobs
        self._stores = stores
        self._keys = keys
        self._datasets = datasets
        self._target = target
        self._settings = settings
        self._stopping = stopping
        self._scan = scan
        self._events = events
        self._today = today

    def run(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.status.ended:
            return
        scanning = job.status in (JobStatus.RECEIVED, JobStatus.SCANNING)
        if not self._jobs.start_attempt(
            job_id, JobStatus.SCANNING if scanning else JobStatus.PROCESSING
        ):
            return
        work_dir = self._settings.work_dir / job_id
        shutil.rmtree(work_dir, ignore_errors=True)  # a previous attempt's leftovers
        work_dir.mkdir(parents=True)
        try:
            if scanning and not self._scan_then_process(job):
                return
            self._import(job, work_dir)
        except (JobInterrupted, Interrupted):
            log.info("job %s interrupted; it resumes on the next start", job_id)
            return
        except JobCancelled:
            log.info("job %s was cancelled while running", job_id)
            return
        except JobFailure as failure:
            log.info("job %s failed: %s: %s", job_id, failure.code, failure.message)
            self._jobs.fail(job_id, JobError(failure.code, failure.message))
        except Exception:
            log.exception("job %s stopped by an unexpected error", job_id)
            self._jobs.fail(
                job_id,
                JobError("internal_error", "An unexpected error stopped the job; it was logged"),
            )
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        self._events.job_ended(job_id)

    def _scan_then_process(self, job: Job) -> bool:
        """Scan; False when the job ended there (quarantined or cancelled)."""
        if not self._scan.run(job):
            self._events.job_ended(job.id)
            return False
        return self._jobs.transition(job.id, JobStatus.PROCESSING)

    def _import(self, job: Job, work_dir: Path) -> None:
        dataset = self._datasets.get(job.dataset or "")
        if dataset is None:
            raise JobFailure(
                f"The dataset {job.dataset!r} is no longer configured", code="unknown_dataset"
            )
        source_ref, _ = self._jobs.refs(job.id)
        if source_ref is None:
            raise JobFailure("The uploaded file is missing", code="source_missing")
        ref = StoredRef.from_json(self._keys.decrypt(source_ref))
        store = self._stores.for_ref(ref)

        def open_source() -> AbstractContextManager[BinaryIO]:
            return store.open_read(ref.key)

        today = self._today()
        hook = _ProgressHook(self._jobs, job.id, self._stopping)
        # A resumed job already knows its row count: only a first reading counts bytes.
        on_bytes = hook.bytes_read if job.progress.total is None else (lambda read: None)
        shape: FileShape = inspect_upload(
            open_source,
            dataset,
            self._settings.csv_limits,
            work_dir / "batches",
            self._settings.batch_rows,
            today,
            on_bytes,
        )
        hook(0, Counts(), shape.rows)
        report = ReportWriter(work_dir, shape.header.labels)
        try:
            importer = RowImporter(
                dataset,
                shape.header,
                lambda name: self._target.sink(self._dataset(name)),
                repeated_keys(shape.batches, shape.rows),
                report,
                today,
            )
            sink_writer = SinkWriter(
                self._target.sink(dataset), importer.columns, importer.updated_columns
            )
            try:
                counts = importer.run(
                    read_batches(shape.batches),
                    sink_writer,
                    lambda processed, counts: hook(processed, counts, shape.rows),
                )
            finally:
                sink_writer.close()
        finally:
            report.close()
        results = self._stores["results"]
        result_key = f"{job.id}/{job.result_file_name()}"
        with results.open_write(result_key) as writer:
            report.publish(writer)
        result_ref = self._keys.encrypt(results.ref(result_key).to_json())
        if not self._jobs.complete(job.id, Progress(shape.rows, shape.rows), counts, result_ref):
            results.delete(result_key)  # cancelled at the last moment: serve nothing

    def _dataset(self, name: str) -> Dataset:
        dataset = self._datasets.get(name)
        if dataset is None:
            raise JobFailure(f"The dataset {name!r} is not configured", code="unknown_dataset")
        return dataset
