"""The import stage: decide every row, write the valid ones, report them all.

Rows go through in batches: validate each row against the column and row rules,
check keys against earlier rows (duplicates) and references against the sink and
earlier rows, upsert the valid rows in one transaction, then add every row to the
report. After each batch the ``on_batch`` hook runs: the runner uses it for
progress and to stop a cancelled job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any

from loadbay.domain.datasets import Dataset
from loadbay.domain.jobs import Counts
from loadbay.domain.rows import HeaderMap, RowValidator
from loadbay.domain.rules import quoted
from loadbay.pipeline.keys import KeyLedger
from loadbay.pipeline.report import ReportWriter
from loadbay.sinks.base import Sink

BatchHook = Callable[[int, Counts], None]


@dataclass(slots=True)
class _Row:
    number: int
    cells: list[str]
    values: list[Any] | None
    errors: list[str]


@dataclass(frozen=True)
class _ReferenceCheck:
    index: int  # position in the validator's values
    label: str
    dataset: str
    sink: Sink


def batched(records: Iterable[tuple[int, list[str]]], size: int) -> Iterator[list[Any]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


class RowImporter:
    """Imports the data records of one file into ``sink`` and reports them."""

    def __init__(
        self,
        dataset: Dataset,
        header: HeaderMap,
        sinks: Callable[[str], Sink],
        ledger: KeyLedger,
        report: ReportWriter,
        today: date,
    ) -> None:
        self._dataset = dataset
        self._width = header.width
        self._validator = RowValidator(dataset, header, today)
        self._sink = sinks(dataset.name)
        self._ledger = ledger
        self._report = report
        self._key_index = self._validator.key_index
        self._key_label = dataset.key_column.label
        self._references = [
            _ReferenceCheck(
                index=self._validator.columns.index(c.key),
                label=c.label,
                dataset=c.reference.dataset,
                sink=sinks(c.reference.dataset),
            )
            for c in dataset.columns
            if c.reference is not None and c.key in self._validator.columns
        ]

    def run(
        self, records: Iterable[tuple[int, list[str]]], batch_rows: int, on_batch: BatchHook
    ) -> Counts:
        success = failure = processed = 0
        for batch in batched(records, batch_rows):
            rows = self._validate(batch)
            self._check_duplicates(rows)
            self._check_references(rows)
            good = [row for row in rows if not row.errors]
            self._sink.upsert(
                self._validator.columns,
                self._validator.updated_columns,
                [row.values for row in good],  # type: ignore[misc]
            )
            self._report.add_successes([row.cells for row in good])
            self._report.add_failures(
                [(row.cells, "; ".join(row.errors)) for row in rows if row.errors]
            )
            processed += len(rows)
            success += len(good)
            failure += len(rows) - len(good)
            on_batch(processed, Counts(success, failure))
        return Counts(success, failure)

    def _validate(self, batch: Sequence[tuple[int, list[str]]]) -> list[_Row]:
        validate = self._validator.validate
        width = self._width
        rows: list[_Row] = []
        for number, cells in batch:
            if len(cells) == width:
                values, errors = validate(cells)
                rows.append(_Row(number, cells, values, errors))
            else:
                message = f"The row has {len(cells)} values but the header has {width} columns"
                rows.append(_Row(number, cells, None, [message]))
        return rows

    def _check_duplicates(self, rows: list[_Row]) -> None:
        """A key's first row in the file wins; every later row with it fails."""
        key_index = self._key_index
        first_in_batch: dict[str, int] = {}
        for row in rows:
            if row.values is not None and (key := row.values[key_index]) is not None:
                first_in_batch.setdefault(key, row.number)
        earlier = self._ledger.claim(list(first_in_batch.items()))
        for row in rows:
            if row.values is None or (key := row.values[key_index]) is None:
                continue
            first = earlier.get(key) or first_in_batch[key]
            if first != row.number:
                row.errors.append(f"{self._key_label}: duplicate of row {first}")

    def _check_references(self, rows: list[_Row]) -> None:
        """A reference must name a stored record or a successful earlier row of the file.

        Earlier batches' successes are already in the sink; this batch's are tracked
        in order, so a row may refer to one a few lines above it.
        """
        if not self._references:
            return
        stored = [
            check.sink.existing_keys(
                {row.values[check.index] for row in rows if row.values is not None} - {None}
            )
            for check in self._references
        ]
        same_dataset = self._dataset.name
        key_index = self._key_index
        succeeded: set[Any] = set()
        for row in rows:
            values = row.values
            if values is None:
                continue
            for check, found in zip(self._references, stored, strict=True):
                value = values[check.index]
                if value is None or value in found:
                    continue
                if check.dataset == same_dataset and value in succeeded:
                    continue
                row.errors.append(f"{check.label}: {quoted(value)} does not exist")
            if not row.errors:
                succeeded.add(values[key_index])
