"""CSV records from text: RFC 4180 quoting, embedded newlines, CRLF or LF, and the
delimiter (comma, semicolon or tab) read off the header line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from loadbay.domain.errors import EmptyFile, MalformedCsv
from loadbay.pipeline.text import bounded_lines

_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class CsvLimits:
    max_field_chars: int = 131_072
    max_line_chars: int = 1_048_576
    max_columns: int = 1_000


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that occurs most often outside quotes in the header; comma on ties."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


class RecordReader:
    """Iterates ``(record_number, cells)`` over data records; the header is record 1.

    Blank lines are not records. Parse errors stop the file with ``malformed_csv``,
    naming the line.
    """

    def __init__(self, text: TextIO, limits: CsvLimits) -> None:
        self._limits = limits
        lines = bounded_lines(text, limits.max_line_chars)
        first = self._first_line(lines)
        self.delimiter = sniff_delimiter(first)
        csv.field_size_limit(limits.max_field_chars)
        self._reader = csv.reader(_prepend(first, lines), delimiter=self.delimiter, strict=True)
        self._number = 0
        self.header = self._read_header()

    @staticmethod
    def _first_line(lines: Iterator[str]) -> str:
        for line in lines:
            if line.strip("\r\n"):
                return line
        raise EmptyFile("The file has no header row: it is empty")

    def _read_header(self) -> list[str]:
        for _, cells in _translate_errors(self._records(), self._reader):
            self._number = 1
            if len(cells) > self._limits.max_columns:
                raise MalformedCsv(
                    f"The header has {len(cells)} columns; at most "
                    f"{self._limits.max_columns} are allowed"
                )
            return [cell.strip() for cell in cells]
        raise EmptyFile("The file has no header row: it is empty")  # pragma: no cover

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        # Blank lines come out of csv as empty lists and are dropped by ``filter``;
        # numbering, filtering and parsing all stay in C for speed.
        return enumerate(filter(None, self._reader), start=self._number + 1)

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        """Data records, numbered on from the header's 1 as a spreadsheet numbers rows.

        The iterator raises :class:`MalformedCsv` for a record csv cannot parse."""
        return _translate_errors(self._records(), self._reader)


def _translate_errors(
    records: Iterator[tuple[int, list[str]]], reader: Any
) -> Iterator[tuple[int, list[str]]]:
    try:
        yield from records
    except csv.Error as error:
        raise MalformedCsv(f"Line {reader.line_num}: {error}") from error


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
