"""Settling the rows that waited for another chunk (the finalize step).

A pending row refers to a key whose first row is in an earlier chunk (see
``self_references.py``). Once every chunk is decided, the pending segments are walked
in row order: a reference holds when that first row succeeded, which is known from its
chunk's outcomes or, for a row that was pending itself, from this walk (it comes
earlier). Rows that succeed are written to the sink here, and every row of the segment
is rendered into report CSV in its order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from loadbay.domain.datasets import Dataset
from loadbay.domain.rows import HeaderMap, RowValidator
from loadbay.pipeline.batches import KEY, cell_column
from loadbay.pipeline.columnar_rules import ColumnarValidator
from loadbay.pipeline.importer import ERRORS, REFERENCES, STATUS
from loadbay.pipeline.report import ReportWriter
from loadbay.pipeline.self_references import (
    FAILURE,
    PENDING,
    SUCCESS,
    load_references,
    missing,
)
from loadbay.sinks.base import Sink


@dataclass(frozen=True)
class Settled:
    """How the rows that were pending came out."""

    success: int
    failure: int


class PendingResolver:
    """Settles pending segments in row order; ``outcomes`` holds every chunk's outcome
    (S, F or P) for its rows that hold a referenced key."""

    def __init__(
        self,
        dataset: Dataset,
        header: HeaderMap,
        today: date,
        sink: Sink,
        outcomes: dict[str, str],
    ) -> None:
        self._rows = RowValidator(dataset, header, today)
        self._columns = ColumnarValidator(dataset, header, today)
        self._cells = [cell_column(i) for i in range(header.width)]
        self._labels = header.labels
        self._sink = sink
        self._outcomes = outcomes

    def settle(self, frame: pl.DataFrame, report: ReportWriter) -> Settled:
        """Decide the segment's pending rows, write those that succeed, and render all
        of its rows into ``report``."""
        statuses = frame[STATUS].to_list()
        errors = frame[ERRORS].to_list()
        references = frame[REFERENCES].to_list()
        keys = frame[KEY].to_list()
        final: list[str] = []
        texts: list[str | None] = []
        settled = [0, 0]
        for index, status in enumerate(statuses):
            text = errors[index]
            if references[index] is not None:
                problems = [text] if text else []
                for reference in load_references(references[index]):
                    holds = (
                        reference.state == "pending"
                        and self._outcomes.get(reference.value) == SUCCESS
                    )
                    if not holds:
                        problems.append(missing(reference.label, reference.value))
                text = "; ".join(problems) or None
                if status == PENDING:
                    status = FAILURE if problems else SUCCESS
                    settled[status == FAILURE] += 1
                    if self._outcomes.get(keys[index]) == PENDING:
                        self._outcomes[keys[index]] = status
            final.append(status)
            texts.append(text)
        self._write_settled(frame, statuses, final)
        self._render(frame, final, texts, report)
        return Settled(settled[0], settled[1])

    def _write_settled(
        self, frame: pl.DataFrame, before: Sequence[str], after: Sequence[str]
    ) -> None:
        """Upsert the rows that were pending and now succeed (the others were written by
        their chunk)."""
        chosen = [a == SUCCESS and b == PENDING for b, a in zip(before, after, strict=True)]
        if not any(chosen):
            return
        rows = frame.filter(pl.Series(chosen))
        checked = self._columns.check(rows.select(self._cells))
        if not checked["ok"].all():  # they passed in their chunk: the same rules, same day
            raise RuntimeError("a pending row no longer passes its column rules")
        self._sink.upsert(
            self._rows.columns, self._rows.updated_columns, checked.select(list(self._rows.columns))
        )

    def _render(
        self,
        frame: pl.DataFrame,
        statuses: Sequence[str],
        texts: Sequence[str | None],
        report: ReportWriter,
    ) -> None:
        succeeded = pl.Series([s == SUCCESS for s in statuses])
        report.add_success_frame(frame.filter(succeeded).select(self._cells))
        cells = frame.select(self._cells).rows()
        report.add_failures(
            [(cells[i], texts[i] or "") for i, status in enumerate(statuses) if status != SUCCESS]
        )
