"""One chunk's part of the report, as segments in row order.

Most batches are fully decided: their successes and failures go, as report CSV rows,
into the current *CSV segment* (two files), which the finalize step only copies.
A batch holding a row that waits on another chunk (see ``self_references.py``) becomes
a *pending segment* instead: an Arrow file of all its rows with what is known of each,
which the finalize step settles and renders. Segments keep the batches' order, so the
report keeps upload order within successes and within failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from loadbay.pipeline.report import ReportWriter

CSV = "csv"
PENDING = "pending"
SUCCESSES = "successes.csv"
FAILURES = "failures.csv"
ROWS = "rows.arrow"


@dataclass(frozen=True)
class Segment:
    """A folder of the chunk's report: ``kind`` csv (successes.csv, failures.csv) or
    pending (rows.arrow)."""

    kind: str
    folder: str  # relative to the chunk's report folder

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "folder": self.folder}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(data["kind"], data["folder"])

    @property
    def files(self) -> tuple[str, ...]:
        return (SUCCESSES, FAILURES) if self.kind == CSV else (ROWS,)


class ChunkReport:
    """Collects one chunk's decided rows into segments under ``folder``."""

    def __init__(self, folder: Path, labels: Sequence[str]) -> None:
        self._folder = folder
        self._labels = labels
        self._segments: list[Segment] = []
        self._current: ReportWriter | None = None

    def _csv(self) -> ReportWriter:
        if self._current is None:
            segment = Segment(CSV, f"{len(self._segments):05d}")
            self._segments.append(segment)
            self._current = ReportWriter(self._folder / segment.folder, self._labels)
        return self._current

    def add_success_frame(self, cells: pl.DataFrame) -> None:
        self._csv().add_success_frame(cells)

    def add_failures(self, rows: Sequence[tuple[Sequence[str], str]]) -> None:
        if rows:
            self._csv().add_failures(rows)

    def add_pending(self, frame: pl.DataFrame) -> None:
        """A batch with rows that wait on another chunk: all its rows, as they stand."""
        self._close_csv()
        segment = Segment(PENDING, f"{len(self._segments):05d}")
        self._segments.append(segment)
        folder = self._folder / segment.folder
        folder.mkdir(parents=True, exist_ok=True)
        frame.write_ipc(folder / ROWS, compression="uncompressed")

    def _close_csv(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def close(self) -> list[Segment]:
        """Finish writing; the segments in order."""
        self._close_csv()
        return list(self._segments)
