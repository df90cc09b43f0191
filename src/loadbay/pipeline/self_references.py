"""References from a row to a key defined in an earlier row of the same file, when the
file is imported in chunks that run in parallel.

A dataset may refer to itself (a location's ``parent_code`` names another location's
``code``). The rule: the reference holds if the key was in the target before the import
started, or an earlier row of the file with that key succeeded. Sequentially that is
easy; with chunks the earlier row may be in a chunk that another worker is still
deciding, and the target may already hold a key written by a *later* row. So the
decision never looks at the target during the import. It uses:

- ``pre:<column>``, found by the parse step before anything was written: whether the
  value was already a key in the target;
- the file's first row for each referenced key (the index step);
- the outcome of rows already decided in this chunk, kept for referenced keys only.

A row whose reference points into an earlier chunk, and whose other checks pass, is
*pending*: the finalize step settles it, in row order, once every chunk is decided
(see ``pending.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from loadbay.domain.datasets import Column, Dataset
from loadbay.domain.rows import HeaderMap
from loadbay.domain.rules import quoted
from loadbay.pipeline.batches import KEY, ROW, cell_column
from loadbay.pipeline.columnar_rules import ColumnarValidator
from loadbay.sinks.base import Sink

SUCCESS = "S"
FAILURE = "F"
PENDING = "P"
_FAILED = "fail"
_WAITING = "pending"


def ref_column(key: str) -> str:
    """The batch column holding a self-reference's value as text (null if invalid)."""
    return f"ref:{key}"


def pre_column(key: str) -> str:
    """The batch column saying whether that value was a key before the import."""
    return f"pre:{key}"


def self_reference_columns(dataset: Dataset, header: HeaderMap) -> list[Column]:
    """The dataset's columns that refer to its own key and that the upload names."""
    return [
        c
        for c in dataset.columns
        if c.reference is not None
        and c.reference.dataset == dataset.name
        and c.key in header.positions
    ]


class SelfReferenceValues:
    """Adds ``ref:``/``pre:`` columns to a parsed batch (the parse step, before any
    row of the file is written)."""

    def __init__(self, dataset: Dataset, header: HeaderMap, today: date, sink: Sink) -> None:
        self.columns = self_reference_columns(dataset, header)
        subset = replace(dataset, columns=(dataset.key_column, *self.columns), row_rules=())
        self._validator = ColumnarValidator(subset, header, today)
        self._cells = [cell_column(i) for i in range(header.width)]
        self._sink = sink

    def __call__(self, frame: pl.DataFrame) -> pl.DataFrame:
        if not self.columns:
            return frame
        checked = self._validator.check(frame.select(self._cells))
        added: list[pl.Series] = []
        for column in self.columns:
            values = checked[column.key]
            if values.dtype == pl.Object:  # integers beyond 64 bits
                text = pl.Series([None if v is None else str(v) for v in values], dtype=pl.String)
            else:
                text = values.cast(pl.String)
            found = self._sink.existing_keys({v for v in text.to_list() if v is not None})
            added.append(text.alias(ref_column(column.key)))
            added.append(text.is_in(list(found)).fill_null(False).alias(pre_column(column.key)))
        return frame.with_columns(added)


@dataclass(frozen=True)
class PendingReference:
    """One self-reference of a pending row: its column's label, value and state."""

    label: str
    value: str
    state: str  # "fail" (decided: does not exist) or "pending"


def dump_references(references: Sequence[PendingReference]) -> str:
    return json.dumps([[r.label, r.value, r.state] for r in references])


def load_references(text: str) -> list[PendingReference]:
    return [PendingReference(label, value, state) for label, value, state in json.loads(text)]


def missing(label: str, value: str) -> str:
    return f"{label}: {quoted(value)} does not exist"


class SelfReferences:
    """Decides the self-references of one chunk's rows, in row order.

    ``first_rows`` maps each referenced value that is a key in the file to the first
    row with that key; ``chunk_start`` is the chunk's first row (0 for a file imported
    in one chunk: nothing is then ever pending)."""

    def __init__(
        self, columns: Sequence[Column], first_rows: Mapping[str, int], chunk_start: int
    ) -> None:
        self._columns = [(c.key, c.label) for c in columns]
        self._first_rows = first_rows
        self._chunk_start = chunk_start
        # Outcome (S, F or P) of this chunk's rows that hold a referenced key.
        self.outcomes: dict[str, str] = {}

    def decide(
        self, frame: pl.DataFrame, failed: set[int]
    ) -> tuple[dict[int, list[str]], dict[int, list[PendingReference]]]:
        """Walk the batch: errors of references that are decided missing, by row index,
        and the references still pending, by row index. ``failed`` holds the rows
        that already fail for other reasons (they never serve as a parent)."""
        rows = frame[ROW].to_list()
        keys = frame[KEY].to_list()
        values = {k: frame[ref_column(k)].to_list() for k, _ in self._columns}
        before = {k: frame[pre_column(k)].to_list() for k, _ in self._columns}
        errors: dict[int, list[str]] = {}
        pending: dict[int, list[PendingReference]] = {}
        for index, row in enumerate(rows):
            found: list[PendingReference] = []
            for column, label in self._columns:
                value = values[column][index]
                if value is None or before[column][index]:
                    continue
                state = self._state(value, row)
                if state is not None:
                    found.append(PendingReference(label, value, state))
            if any(r.state == _WAITING for r in found):
                pending[index] = found
                outcome = FAILURE if index in failed else PENDING
            else:
                if found:
                    errors[index] = [missing(r.label, r.value) for r in found]
                outcome = FAILURE if found or index in failed else SUCCESS
            key = keys[index]
            if key is not None and self._first_rows.get(key) == row:
                self.outcomes[key] = outcome
        return errors, pending

    def _state(self, value: str, row: int) -> str | None:
        """None when the reference holds, else "fail" or "pending"."""
        first = self._first_rows.get(value)
        if first is None or first >= row:
            return _FAILED
        if first < self._chunk_start:
            return _WAITING
        outcome = self.outcomes.get(value)
        if outcome == SUCCESS:
            return None
        return _WAITING if outcome == PENDING else _FAILED
