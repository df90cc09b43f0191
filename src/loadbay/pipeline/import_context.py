"""What every step of an import needs: the job's file, dataset, layout and work files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from loadbay.datasets.registry import DatasetRegistry
from loadbay.db.jobs import JobRepository
from loadbay.db.steps import StepRepository
from loadbay.domain.datasets import Dataset
from loadbay.domain.errors import JobCancelled, JobFailure
from loadbay.domain.jobs import Counts, Job, Progress
from loadbay.domain.rows import HeaderMap, resolve_header
from loadbay.domain.steps import ImportPhase, single_step
from loadbay.pipeline.records import CsvLimits
from loadbay.pipeline.runner import Attempt
from loadbay.pipeline.work_area import WorkArea
from loadbay.security.keys import KeyRing
from loadbay.sinks.base import SinkProvider
from loadbay.storage.base import Store, StoredRef
from loadbay.storage.registry import StoreRegistry


@dataclass(frozen=True)
class ImportSettings:
    scratch_dir: Path  # local folder for each attempt's temporary files
    csv_limits: CsvLimits
    batch_rows: int = 20_000
    chunk_bytes: int = 32 * 1024 * 1024  # files larger than this are cut into chunks


@dataclass(frozen=True)
class Layout:
    """What the split step found, shared by every later step: the header, the
    delimiter and the day rules are checked against (the same for every chunk, even
    when they run on different days)."""

    cells: list[str]
    delimiter: str
    today: date

    def to_json(self) -> dict[str, Any]:
        return {"cells": self.cells, "delimiter": self.delimiter, "today": self.today.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layout:
        return cls(list(data["cells"]), data["delimiter"], date.fromisoformat(data["today"]))


@dataclass
class ImportDeps:
    """The parts an import's steps use, passed in by the composition root."""

    jobs: JobRepository
    steps: StepRepository
    stores: StoreRegistry
    keys: KeyRing
    datasets: DatasetRegistry
    target: SinkProvider
    settings: ImportSettings
    today: Callable[[], date]

    def dataset(self, name: str | None) -> Dataset:
        dataset = self.datasets.get(name or "")
        if dataset is None:
            raise JobFailure(f"The dataset {name!r} is not configured", code="unknown_dataset")
        return dataset

    def source(self, job: Job) -> tuple[Store, str]:
        """The store and key of the job's uploaded file."""
        encrypted, _ = self.jobs.refs(job.id)
        if encrypted is None:
            raise JobFailure("The uploaded file is missing", code="source_missing")
        ref = StoredRef.from_json(self.keys.decrypt(encrypted))
        return self.stores.for_ref(ref), ref.key

    def work(self, job: Job, scratch: Path) -> WorkArea:
        return WorkArea(self.stores["work"], job.id, scratch)

    def result_of(self, job: Job, name: str) -> dict[str, Any]:
        """What an earlier, done step of the job found."""
        step = self.steps.get(job.id, name)
        if step is None or step.result is None:
            raise RuntimeError(f"job {job.id}: step {name} has no result")
        return step.result

    def layout(self, job: Job) -> Layout:
        return Layout.from_json(self.result_of(job, single_step(ImportPhase.SPLIT)))

    def header(self, dataset: Dataset, layout: Layout) -> HeaderMap:
        return resolve_header(dataset, layout.cells)

    def store_progress(self, job: Job, progress: Progress, counts: Counts) -> None:
        """Store the job's progress; a job that has ended meanwhile stops here."""
        if not self.jobs.record_progress(job.id, progress, counts):
            raise JobCancelled(f"job {job.id} ended while running")

    def check_running(self, job: Job) -> None:
        """Stop here if the job has ended meanwhile (a cancel), without writing."""
        status = self.jobs.status_of(job.id)
        if status is None or status.ended:
            raise JobCancelled(f"job {job.id} ended while running")


class Throttle:
    """True at most every ``interval`` seconds (the first call included)."""

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._last = -interval

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval:
            return False
        self._last = now
        return True


def record_bytes(deps: ImportDeps, job: Job, attempt: Attempt, read: int) -> None:
    """A parse step's bytes read, and the job's: the sum over every chunk."""
    attempt.record(read)
    processed, _, _ = deps.steps.totals(job.id, ImportPhase.PARSE)
    deps.store_progress(job, Progress(processed, None), Counts())
