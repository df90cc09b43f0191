"""The import stage: decide every row of every batch, write the valid ones, report all.

Per batch of parsed records (see ``batches.py``):

1. the vectorised :class:`ColumnarValidator` finds the rows that pass every column and
   row rule and computes their values; the few that do not go through the Python
   :class:`RowValidator`, the reference, which words their errors;
2. a key may appear once in the file: a later row with it fails (``duplicates.py``);
3. references to other datasets must name a stored record; references to the dataset's
   own key must name a record stored before the import or a successful earlier row of
   the file (``self_references.py``: such a row may have to wait for another chunk);
4. every row goes to the report, and the valid ones to the writer thread, which upserts
   each batch in one transaction.

After each committed batch the ``on_batch`` hook runs: the runner uses it for progress
and to stop a cancelled job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from loadbay.domain.datasets import Dataset
from loadbay.domain.jobs import Counts
from loadbay.domain.rows import HeaderMap, RowValidator
from loadbay.domain.rules import quoted
from loadbay.pipeline.batches import KEY, ROW, WIDTH, cell_column
from loadbay.pipeline.chunk_report import ChunkReport
from loadbay.pipeline.columnar_rules import ColumnarValidator
from loadbay.pipeline.duplicates import FIRST
from loadbay.pipeline.self_references import (
    FAILURE,
    PENDING,
    SUCCESS,
    PendingReference,
    SelfReferences,
    dump_references,
)
from loadbay.pipeline.sink_writer import SinkWriter
from loadbay.sinks.base import Sink

STATUS = "status"
ERRORS = "errors"
REFERENCES = "references"

BatchHook = Callable[[int, Counts], None]


@dataclass(frozen=True)
class _ReferenceCheck:
    column: str  # the referring column's key
    label: str
    dataset: str
    sink: Sink


class _Batch:
    """One batch being decided: per row its values (key and references) and errors."""

    def __init__(self, frame: pl.DataFrame, checked: pl.DataFrame, cells: list[str]) -> None:
        self.frame = frame
        self.checked = checked
        self.cell_frame = frame.select(cells)
        self.errors: dict[int, list[str]] = {}  # by index in the batch
        self.python_values: dict[int, list[Any] | None] = {}

    def fail(self, index: int, message: str) -> None:
        self.errors.setdefault(index, []).append(message)

    def column_values(self, name: str, position: int) -> list[Any]:
        """A column's values: vectorised for valid rows, from the Python check for the rest."""
        values: list[Any] = self.checked[name].to_list()
        for index, python in self.python_values.items():
            values[index] = python[position] if python is not None else None
        return values

    def cells_of(self, index: int) -> list[str]:
        return list(self.cell_frame.row(index))


class RowImporter:
    """Imports the data records of one file into its dataset's sink and reports them."""

    def __init__(
        self,
        dataset: Dataset,
        header: HeaderMap,
        sinks: Callable[[str], Sink],
        repeated: pl.DataFrame,
        report: ChunkReport,
        today: date,
        self_references: SelfReferences | None = None,
    ) -> None:
        self._dataset = dataset
        self._width = header.width
        self._rows = RowValidator(dataset, header, today)
        self._columns = ColumnarValidator(dataset, header, today)
        self._repeated = repeated
        self._report = report
        self._cells = [cell_column(i) for i in range(header.width)]
        self._key_label = dataset.key_column.label
        # References to other datasets are checked first: their failures decide which
        # rows can serve as parents for references within the dataset.
        self._references = [
            _ReferenceCheck(c.key, c.label, c.reference.dataset, sinks(c.reference.dataset))
            for c in dataset.columns
            if c.reference is not None
            and c.key in self._rows.columns
            and c.reference.dataset != dataset.name
        ]
        self._self_references = self_references

    @property
    def columns(self) -> tuple[str, ...]:
        """The sink columns each written row has values for, in order."""
        return self._rows.columns

    @property
    def updated_columns(self) -> tuple[str, ...]:
        """The columns an upsert may overwrite: those the upload names."""
        return self._rows.updated_columns

    def run(
        self, batches: Iterable[pl.DataFrame], writer: SinkWriter, on_batch: BatchHook
    ) -> ChunkCounts:
        """Decide and write every batch; ``on_batch`` sees the totals of the batches
        committed so far (rows decided, and counts of those not pending)."""
        totals = _Totals(on_batch)
        for number, frame in enumerate(batches):
            batch = self._check_rules(frame)
            self._check_duplicates(batch)
            self._check_references(batch)
            pending = self._check_self_references(batch)
            self._write(batch, number, writer, totals, pending)
        self._settle(writer.flush(), totals)
        return ChunkCounts(totals.counts.success, totals.counts.failure, totals.pending)

    @staticmethod
    def _settle(committed: list[int], totals: _Totals) -> None:
        for number in committed:
            totals.committed(number)

    def _check_rules(self, frame: pl.DataFrame) -> _Batch:
        checked = self._columns.check(frame.select(self._cells))
        batch = _Batch(frame, checked, self._cells)
        widths = frame[WIDTH]
        suspects = (~checked["ok"] | (widths != self._width)).arg_true().to_list()
        for index in suspects:
            width = widths[index]
            if width != self._width:
                batch.python_values[index] = None
                batch.fail(
                    index, f"The row has {width} values but the header has {self._width} columns"
                )
                continue
            values, errors = self._rows.validate(batch.cells_of(index))
            batch.python_values[index] = values
            for error in errors:
                batch.fail(index, error)
        return batch

    def _check_duplicates(self, batch: _Batch) -> None:
        """A key's first row in the file wins; every later row with it fails."""
        if self._repeated.height == 0:
            return
        first = batch.frame[KEY].replace_strict(
            self._repeated[KEY], self._repeated[FIRST], default=None, return_dtype=pl.Int64
        )
        later = (first.is_not_null() & (first != batch.frame[ROW])).arg_true()
        for index, first_row in zip(later.to_list(), first.gather(later).to_list(), strict=True):
            batch.fail(index, f"{self._key_label}: duplicate of row {first_row}")

    def _check_references(self, batch: _Batch) -> None:
        """A reference to another dataset must name one of its stored records."""
        for check in self._references:
            values = batch.column_values(check.column, self._rows.columns.index(check.column))
            stored = check.sink.existing_keys({v for v in values if v is not None})
            for index, value in enumerate(values):
                if value is not None and value not in stored:
                    batch.fail(index, f"{check.label}: {quoted(value)} does not exist")

    def _check_self_references(self, batch: _Batch) -> dict[int, list[PendingReference]]:
        """References to the dataset's own key; the rows that must wait for another chunk."""
        if self._self_references is None:
            return {}
        errors, pending = self._self_references.decide(batch.frame, set(batch.errors))
        for index, messages in errors.items():
            for message in messages:
                batch.fail(index, message)
        return pending

    def _write(
        self,
        batch: _Batch,
        number: int,
        writer: SinkWriter,
        totals: _Totals,
        pending: dict[int, list[PendingReference]],
    ) -> None:
        held = sorted(set(batch.errors) | set(pending))
        if held:
            keep = pl.Series(range(batch.frame.height)).is_in(held).not_()
            good_values = batch.checked.filter(keep)
            good_cells = batch.cell_frame.filter(keep)
        else:
            good_values = batch.checked
            good_cells = batch.cell_frame
        waiting = sum(1 for index in pending if index not in batch.errors)
        if pending:
            self._report.add_pending(self._pending_frame(batch, pending))
        else:
            failed = sorted(batch.errors)
            self._report.add_success_frame(good_cells)
            self._report.add_failures(
                [(batch.cells_of(i), "; ".join(batch.errors[i])) for i in failed]
            )
        totals.decided(number, batch.frame.height, good_values.height, waiting)
        self._settle(writer.write(number, good_values.select(list(self._rows.columns))), totals)

    def _pending_frame(
        self, batch: _Batch, pending: dict[int, list[PendingReference]]
    ) -> pl.DataFrame:
        """All the batch's rows, each with its status (S, F or P), its errors so far and,
        for a row that waits, its self-references."""
        statuses: list[str] = []
        errors: list[str | None] = []
        references: list[str | None] = []
        for index in range(batch.frame.height):
            own = batch.errors.get(index)
            if index in pending:
                statuses.append(FAILURE if own else PENDING)
                references.append(dump_references(pending[index]))
            else:
                statuses.append(FAILURE if own else SUCCESS)
                references.append(None)
            errors.append("; ".join(own) if own else None)
        return batch.frame.select(ROW, KEY, WIDTH, *self._cells).with_columns(
            pl.Series(STATUS, statuses, pl.String),
            pl.Series(ERRORS, errors, pl.String),
            pl.Series(REFERENCES, references, pl.String),
        )


@dataclass(frozen=True)
class ChunkCounts:
    """Rows of a chunk: written, failed, and waiting for the finalize step."""

    success: int
    failure: int
    pending: int


class _Totals:
    """Counts of committed batches, reported in batch order as commits arrive."""

    def __init__(self, on_batch: BatchHook) -> None:
        self._on_batch = on_batch
        self._sizes: dict[int, tuple[int, int, int]] = {}
        self.processed = 0
        self.pending = 0
        self.counts = Counts()

    def decided(self, number: int, rows: int, good: int, pending: int) -> None:
        self._sizes[number] = (rows, good, pending)

    def committed(self, number: int) -> None:
        rows, good, pending = self._sizes.pop(number)
        self.processed += rows
        self.pending += pending
        self.counts = Counts(
            self.counts.success + good, self.counts.failure + rows - good - pending
        )
        self._on_batch(self.processed, self.counts)
