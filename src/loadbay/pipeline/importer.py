"""The import stage: decide every row of every batch, write the valid ones, report all.

Per batch of parsed records (see ``batches.py``):

1. the vectorised :class:`ColumnarValidator` finds the rows that pass every column and
   row rule and computes their values; the few that do not go through the Python
   :class:`RowValidator`, the reference, which words their errors;
2. a key may appear once in the file: a later row with it fails (``duplicates.py``);
3. references must name a stored record or a successful earlier row of the file;
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
from loadbay.pipeline.columnar_rules import ColumnarValidator
from loadbay.pipeline.duplicates import FIRST
from loadbay.pipeline.report import ReportWriter
from loadbay.pipeline.sink_writer import SinkWriter
from loadbay.sinks.base import Sink

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
        report: ReportWriter,
        today: date,
    ) -> None:
        self._dataset = dataset
        self._width = header.width
        self._rows = RowValidator(dataset, header, today)
        self._columns = ColumnarValidator(dataset, header, today)
        self._in_flight_keys: dict[int, set[Any]] = {}
        self._repeated = repeated
        self._report = report
        self._cells = [cell_column(i) for i in range(header.width)]
        self._key = dataset.key
        self._key_label = dataset.key_column.label
        references = [
            _ReferenceCheck(c.key, c.label, c.reference.dataset, sinks(c.reference.dataset))
            for c in dataset.columns
            if c.reference is not None and c.key in self._rows.columns
        ]
        # References to other datasets first: their failures decide which rows can
        # serve as parents for references within the dataset.
        self._references = sorted(references, key=lambda c: c.dataset == dataset.name)
        self._self_referencing = any(c.dataset == dataset.name for c in references)

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
    ) -> Counts:
        """Decide and write every batch; ``on_batch`` sees the totals of the batches
        committed so far."""
        totals = _Totals(on_batch)
        for number, frame in enumerate(batches):
            batch = self._check_rules(frame)
            self._check_duplicates(batch)
            self._check_references(batch)
            self._write(batch, number, writer, totals)
        self._settle(writer.flush(), totals)
        return totals.counts

    def _settle(self, committed: list[int], totals: _Totals) -> None:
        for number in committed:
            self._in_flight_keys.pop(number, None)
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
        """A reference must name a stored record or a successful earlier row of the file.

        Earlier batches' successes are already in the sink; this batch's are followed
        in order, so a row may refer to one a few lines above it.
        """
        for check in self._references:
            values = batch.column_values(check.column, self._rows.columns.index(check.column))
            stored = self._stored_keys(check, values)
            missing = [i for i, v in enumerate(values) if v is not None and v not in stored]
            if not missing:
                continue
            earlier_successes = (
                self._successes_before(batch, max(missing))
                if check.dataset == self._dataset.name
                else {}
            )
            for index in missing:
                value = values[index]
                if earlier_successes.get(value, index) >= index:
                    batch.fail(index, f"{check.label}: {quoted(value)} does not exist")

    def _stored_keys(self, check: _ReferenceCheck, values: list[Any]) -> set[Any]:
        """Those of ``values`` in the sink, or in batches of this file still being written."""
        wanted = {v for v in values if v is not None}
        stored = check.sink.existing_keys(wanted)
        if check.dataset == self._dataset.name:
            for keys in self._in_flight_keys.values():
                stored |= wanted & keys
        return stored

    def _successes_before(self, batch: _Batch, last: int) -> dict[Any, int]:
        """Keys of rows up to ``last`` that succeed so far, with the first such row.

        Self-references are decided in order: a row that fails on its own reference
        cannot serve as a later row's parent, so this walks the rows one by one."""
        keys = batch.column_values(self._key, self._rows.key_index)
        own = [c for c in self._references if c.dataset == self._dataset.name]
        found: dict[Any, int] = {}
        positions = [self._rows.columns.index(c.column) for c in own]
        references = [batch.column_values(c.column, p) for c, p in zip(own, positions, strict=True)]
        stored = [self._stored_keys(c, r) for c, r in zip(own, references, strict=True)]
        for index in range(last + 1):
            if index in batch.errors or keys[index] is None:
                continue
            resolved = all(
                r[index] is None or r[index] in s or r[index] in found
                for r, s in zip(references, stored, strict=True)
            )
            if resolved:
                found.setdefault(keys[index], index)
        return found

    def _write(self, batch: _Batch, number: int, writer: SinkWriter, totals: _Totals) -> None:
        failed = sorted(batch.errors)
        if failed:
            keep = pl.Series(range(batch.frame.height)).is_in(failed).not_()
            good_values = batch.checked.filter(keep)
            good_cells = batch.cell_frame.filter(keep)
        else:
            good_values = batch.checked
            good_cells = batch.cell_frame
        if self._self_referencing:
            self._in_flight_keys[number] = set(good_values[self._key].to_list())
        self._report.add_success_frame(good_cells)
        self._report.add_failures([(batch.cells_of(i), "; ".join(batch.errors[i])) for i in failed])
        totals.decided(number, batch.frame.height, good_values.height)
        self._settle(writer.write(number, good_values.select(list(self._rows.columns))), totals)


class _Totals:
    """Counts of committed batches, reported in batch order as commits arrive."""

    def __init__(self, on_batch: BatchHook) -> None:
        self._on_batch = on_batch
        self._sizes: dict[int, tuple[int, int]] = {}
        self.processed = 0
        self.counts = Counts()

    def decided(self, number: int, rows: int, good: int) -> None:
        self._sizes[number] = (rows, good)

    def committed(self, number: int) -> None:
        rows, good = self._sizes.pop(number)
        self.processed += rows
        self.counts = Counts(self.counts.success + good, self.counts.failure + rows - good)
        self._on_batch(self.processed, self.counts)
