"""Jobs and their state machine.

    received ──► scanning ──► processing ──► completed
        │            │             │
        └────────────┴─────────────┴──► failed | quarantined | cancelled

A job left `received`, `scanning` or `processing` by a stopped process is run again
from its current state: every stage is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobKind(StrEnum):
    IMPORT = "import"
    EXPORT = "export"
    TRANSFER = "transfer"
    BATCH = "batch"


class JobStatus(StrEnum):
    RECEIVED = "received"
    SCANNING = "scanning"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in ENDED_STATUSES


ENDED_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.QUARANTINED, JobStatus.CANCELLED}
)
ACTIVE_STATUSES = frozenset(set(JobStatus) - ENDED_STATUSES)

# Which status may follow which. Re-entering an active status is how a job left
# behind by a stopped process is resumed.
_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.RECEIVED: frozenset(
        {JobStatus.SCANNING, JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.SCANNING: frozenset(
        {
            JobStatus.SCANNING,
            JobStatus.PROCESSING,
            JobStatus.FAILED,
            JobStatus.QUARANTINED,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether ``current`` may move to ``target``; an ended job never moves again."""
    return target in _ALLOWED.get(current, frozenset())


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which ``target`` may be reached."""
    return frozenset(s for s, targets in _ALLOWED.items() if target in targets)


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Rows decided so far against the rows in the file (``total`` is None until known)."""

    processed: int = 0
    total: int | None = None

    def percent(self, status: JobStatus) -> float:
        if status is JobStatus.COMPLETED:
            return 100.0
        if not self.total:
            return 0.0
        return round(min(100.0, 100.0 * self.processed / self.total), 1)


@dataclass(frozen=True)
class Counts:
    success: int = 0
    failure: int = 0


class ScanVerdict(StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"
    TOO_LARGE = "too_large"
    SKIPPED = "skipped"  # no scanner is configured


@dataclass(frozen=True)
class ScanRecord:
    """What the malware scan of a job's file found, with which engine and when."""

    verdict: ScanVerdict
    signature: str | None = None
    engine: str | None = None
    scanned_at: datetime | None = None


@dataclass(frozen=True)
class Job:
    """One unit of background work, as the service database keeps it."""

    id: str
    kind: JobKind
    status: JobStatus
    owner: str
    tenant: str
    dataset: str | None
    file_name: str | None
    file_size: int | None
    created_at: datetime
    progress: Progress = field(default_factory=Progress)
    counts: Counts = field(default_factory=Counts)
    error: JobError | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    has_result: bool = False
    scan: ScanRecord | None = None
    # An export's file is deleted at this time (the retention sweep); None until it
    # completes, and for other kinds.
    expires_at: datetime | None = None

    @property
    def result_available(self) -> bool:
        return self.status is JobStatus.COMPLETED and self.has_result

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def result_file_name(self) -> str:
        if self.kind is JobKind.EXPORT and self.file_name:
            return self.file_name  # the export's own name, with its format's extension
        return f"{self.dataset or self.kind.value}_{self.id}.csv"
