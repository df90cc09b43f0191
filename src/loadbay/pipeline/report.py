"""The per-row result report: the uploaded columns, then ``Result`` and ``Error``.

Successes and failures stream into two files in the job's work folder as rows are
decided; :meth:`ReportWriter.publish` then streams the header, the successes and
the failures into the results store, so the report is in upload order within each
group and never held in memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from loadbay.storage.base import ObjectWriter

SUCCESS = "Success"
FAILURE = "Failure"
_FORMULA_STARTS = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COPY_CHUNK = 1024 * 1024


def spreadsheet_safe(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would run it as a formula.

    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("-12.5")
    ("'=HYPERLINK(1)", '-12.5')
    """
    if value and value[0] in _FORMULA_STARTS and _PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def _safe_row(cells: Sequence[str]) -> list[str]:
    for cell in cells:
        if cell and cell[0] in _FORMULA_STARTS:
            return [spreadsheet_safe(c) for c in cells]
    return list(cells)


class ReportWriter:
    """Collects decided rows; a row's cells are padded or cut to the header's width."""

    def __init__(self, work_dir: Path, labels: Sequence[str]) -> None:
        self._labels = list(labels)
        self._width = len(labels)
        self._paths = (work_dir / "successes.csv", work_dir / "failures.csv")
        self._files: list[IO[str]] = [
            path.open("w", encoding="utf-8", newline="") for path in self._paths
        ]
        self._successes = csv.writer(self._files[0], lineterminator="\r\n")
        self._failures = csv.writer(self._files[1], lineterminator="\r\n")

    def _fit(self, cells: Sequence[str]) -> list[str]:
        if len(cells) == self._width:
            return _safe_row(cells)
        fitted = list(cells[: self._width]) + [""] * (self._width - len(cells))
        return _safe_row(fitted)

    def add_successes(self, rows: Sequence[Sequence[str]]) -> None:
        fit = self._fit
        self._successes.writerows([*fit(cells), SUCCESS, ""] for cells in rows)

    def add_failures(self, rows: Sequence[tuple[Sequence[str], str]]) -> None:
        fit = self._fit
        self._failures.writerows(
            [*fit(cells), FAILURE, spreadsheet_safe(error)] for cells, error in rows
        )

    def publish(self, writer: ObjectWriter) -> None:
        """Stream the finished report (UTF-8, CRLF) into ``writer``."""
        for handle in self._files:
            handle.close()
        header = _safe_row([*self._labels, "Result", "Error"])
        writer.write(_csv_line(header).encode("utf-8"))
        for path in self._paths:
            with path.open("rb") as source:
                while chunk := source.read(_COPY_CHUNK):
                    writer.write(chunk)

    def close(self) -> None:
        for handle in self._files:
            handle.close()


def _csv_line(cells: Sequence[str]) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()
