"""The per-row result report: the uploaded columns, then ``Result`` and ``Error``.

Successes and failures stream into two files in the job's work folder as rows are
decided; :meth:`ReportWriter.publish` then streams the header, the successes and
the failures into the results store, so the report is in upload order within each
group and never held in memory.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from loadbay.storage.base import ObjectWriter

SUCCESS = "Success"
FAILURE = "Failure"
_FORMULA_STARTS = frozenset("=+-@\t\r")
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN_NUMBER = re.compile(_NUMBER)
# In a line of comma-joined cells with a leading comma: a cell that starts like a
# formula and is not a plain number. One regex search per row instead of a test per cell.
_UNSAFE_CELL = re.compile(f",(?=[=+\\-@\t\r])(?!{_NUMBER}(?:,|$))")
_COPY_CHUNK = 1024 * 1024


def spreadsheet_safe(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would run it as a formula.

    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("-12.5")
    ("'=HYPERLINK(1)", '-12.5')
    """
    if value and value[0] in _FORMULA_STARTS and _PLAIN_NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def plain_line(cells: Sequence[str]) -> str | None:
    """``cells`` as a CSV line if no cell needs quoting or escaping, else None.

    Most rows are plain; for them this is several times faster than ``csv.writer``.
    """
    line = ",".join(cells)
    if (
        line.count(",") != len(cells) - 1
        or '"' in line
        or "\n" in line
        or "\r" in line
        or _UNSAFE_CELL.search("," + line) is not None
    ):
        return None
    return line


class ReportWriter:
    """Collects decided rows; a row's cells are padded or cut to the header's width."""

    def __init__(self, work_dir: Path, labels: Sequence[str]) -> None:
        self._labels = list(labels)
        self._width = len(labels)
        self._paths = (work_dir / "successes.csv", work_dir / "failures.csv")
        self._files: list[IO[str]] = [
            path.open("w", encoding="utf-8", newline="", buffering=1024 * 1024)
            for path in self._paths
        ]
        self._csv = [csv.writer(handle, lineterminator="\r\n") for handle in self._files]

    def add_successes(self, rows: Sequence[Sequence[str]]) -> None:
        """Rows that were imported (they always have the header's width)."""
        self._add(0, [(cells, SUCCESS, "") for cells in rows])

    def add_failures(self, rows: Sequence[tuple[Sequence[str], str]]) -> None:
        width = self._width
        self._add(
            1,
            [
                (
                    cells
                    if len(cells) == width
                    else [*cells[:width], *[""] * (width - len(cells))],
                    FAILURE,
                    error,
                )
                for cells, error in rows
            ],
        )

    def _add(self, group: int, rows: Sequence[tuple[Sequence[str], str, str]]) -> None:
        handle, quoting_writer = self._files[group], self._csv[group]
        lines: list[str] = []
        for cells, result, error in rows:
            line = plain_line([*cells, result, error])
            if line is not None:
                lines.append(line)
                continue
            if lines:  # keep upload order: the plain lines before this one go first
                handle.write("\r\n".join(lines) + "\r\n")
                lines = []
            quoting_writer.writerow([spreadsheet_safe(c) for c in (*cells, result, error)])
        if lines:
            handle.write("\r\n".join(lines) + "\r\n")

    def publish(self, writer: ObjectWriter) -> None:
        """Stream the finished report (UTF-8, CRLF) into ``writer``."""
        self.close()
        buffer = io.StringIO()
        header = [spreadsheet_safe(c) for c in (*self._labels, "Result", "Error")]
        csv.writer(buffer, lineterminator="\r\n").writerow(header)
        writer.write(buffer.getvalue().encode("utf-8"))
        for path in self._paths:
            with path.open("rb") as source:
                while chunk := source.read(_COPY_CHUNK):
                    writer.write(chunk)

    def close(self) -> None:
        for handle in self._files:
            handle.close()
