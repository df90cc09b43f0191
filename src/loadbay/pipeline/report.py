"""The per-row result report: the uploaded columns, then ``Result`` and ``Error``.

Successes and failures stream into two files in the job's work folder as rows are
decided; :meth:`ReportWriter.publish` then streams the header, the successes and
the failures into the results store, so the report is in upload order within each
group and never held in memory. Successes come as polars frames and are written
without leaving C; failures (few) go through the csv module. Both write RFC 4180
CSV with CRLF, quoting only where needed, and an empty cell as nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import polars as pl

from loadbay.storage.base import ObjectWriter

SUCCESS = "Success"
FAILURE = "Failure"
_FORMULA_STARTS = frozenset("=+-@\t\r")
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN_NUMBER = re.compile(_NUMBER)
_FORMULA_START = "^[=+\\-@\t\r]"
_WHOLE_NUMBER = f"^{_NUMBER}$"
_COPY_CHUNK = 1024 * 1024


def spreadsheet_safe(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would run it as a formula.

    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("-12.5")
    ("'=HYPERLINK(1)", '-12.5')
    """
    if value and value[0] in _FORMULA_STARTS and _PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def spreadsheet_safe_column(name: str) -> pl.Expr:
    """:func:`spreadsheet_safe` as a polars expression; "" becomes null, which polars
    writes as an empty field (it would write ``""``), as the csv module does."""
    cell = pl.col(name)
    unsafe = cell.str.contains(_FORMULA_START) & ~cell.str.contains(_WHOLE_NUMBER)
    return (
        pl.when(cell == "")
        .then(pl.lit(None, pl.String))
        .when(unsafe)
        .then(pl.lit("'") + cell)
        .otherwise(cell)
        .alias(name)
    )


def _csv_text(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


class ReportWriter:
    """Collects decided rows; a failed row's cells are padded or cut to the header's width."""

    def __init__(self, work_dir: Path, labels: Sequence[str]) -> None:
        self._labels = list(labels)
        self._width = len(labels)
        work_dir.mkdir(parents=True, exist_ok=True)
        self._paths = (work_dir / "successes.csv", work_dir / "failures.csv")
        self._files: list[BinaryIO] = [path.open("wb") for path in self._paths]

    @property
    def paths(self) -> tuple[Path, Path]:
        """The successes and the failures, as CSV rows without a header."""
        return self._paths

    def add_successes(self, rows: Sequence[Sequence[str]]) -> None:
        """Rows that were imported, each with the header's width."""
        columns = [f"c{i}" for i in range(self._width)]
        self.add_success_frame(
            pl.DataFrame(list(rows), schema=dict.fromkeys(columns, pl.String), orient="row")
        )

    def add_success_frame(self, cells: pl.DataFrame) -> None:
        """Rows that were imported, as a frame of their raw cells (String columns)."""
        if cells.height == 0:
            return
        cells.select(
            *(spreadsheet_safe_column(name) for name in cells.columns),
            pl.lit(SUCCESS).alias("Result"),
            pl.lit(None, pl.String).alias("Error"),
        ).write_csv(
            self._files[0],
            include_header=False,
            line_terminator="\r\n",
            quote_style="necessary",
        )

    def add_failures(self, rows: Sequence[tuple[Sequence[str], str]]) -> None:
        width = self._width
        self._files[1].write(
            _csv_text(
                [
                    [
                        *map(spreadsheet_safe, [*cells[:width], *[""] * (width - len(cells))]),
                        FAILURE,
                        spreadsheet_safe(error),
                    ]
                    for cells, error in rows
                ]
            )
        )

    def publish(self, writer: ObjectWriter) -> None:
        """Stream the finished report (UTF-8, CRLF) into ``writer``."""
        self.close()
        writer.write(report_header(self._labels))
        for path in self._paths:
            with path.open("rb") as source:
                copy_stream(source, writer)

    def close(self) -> None:
        for handle in self._files:
            handle.close()


def report_header(labels: Sequence[str]) -> bytes:
    """The report's header line: the labels, then ``Result`` and ``Error``."""
    return _csv_text([[spreadsheet_safe(c) for c in (*labels, "Result", "Error")]])


def copy_stream(source: BinaryIO, writer: ObjectWriter) -> None:
    while chunk := source.read(_COPY_CHUNK):
        writer.write(chunk)
