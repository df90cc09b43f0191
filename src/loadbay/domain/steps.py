"""The steps of a job: units of work that any worker may run, recorded in the database.

A job is a sequence of phases; a phase is one step or several that run in parallel
(one per chunk of the file). A step becomes ready when every step of the phase
before it is done::

    pending ──claim──► running ──complete──► done
       ▲                  │
       └──── release ─────┤   (a failed attempt backs off, then runs again)
                          └──► dead   (after ``max_attempts``: the job fails)

A claim takes a lease that the worker renews while it runs; a worker that dies stops
renewing, and once the lease expires another worker claims the step again. Every step
is written to be safe to run twice, so the broker only has to wake workers up: the
database, not the broker, says what is left to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"  # failed ``max_attempts`` times: the dead-letter state


class ImportPhase(IntEnum):
    """The phases of an import, in order."""

    SCAN = 0  # malware scan, then the file moves to the permanent store
    SPLIT = 1  # find chunk boundaries at record boundaries
    PARSE = 2  # per chunk: parse records into columnar batches, read keys
    INDEX = 3  # repeated keys and references across the whole file
    DECIDE = 4  # per chunk: check rules, write valid rows, report every row
    FINALIZE = 5  # settle rows that waited on other chunks; one report in upload order


def chunk_step(phase: ImportPhase, index: int) -> str:
    """The name of one chunk's step, e.g. ``decide/00003``."""
    return f"{phase.name.lower()}/{index:05d}"


def single_step(phase: ImportPhase) -> str:
    return phase.name.lower()


def chunk_index(name: str) -> int:
    """The chunk a step name such as ``parse/00003`` is about."""
    return int(name.rsplit("/", 1)[1])


@dataclass(frozen=True)
class NewStep:
    """A step to record: its name, phase and what it works on (plain JSON data)."""

    name: str
    phase: int
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """A step as recorded, with what its attempts so far found."""

    job_id: str
    name: str
    phase: int
    state: StepState
    attempts: int
    spec: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    processed: int = 0
    success: int = 0
    failure: int = 0


@dataclass(frozen=True)
class StepResult:
    """What a step hands on: data for the next phase, and rows decided (for counts)."""

    data: dict[str, Any] = field(default_factory=dict)
    success: int = 0
    failure: int = 0
