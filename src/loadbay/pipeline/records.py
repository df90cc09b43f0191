"""CSV records from lines of text: RFC 4180 quoting, embedded newlines, CRLF or LF, and
the delimiter (comma, semicolon or tab) read off the header line."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter

from loadbay.domain.errors import EmptyFile, MalformedCsv

_DELIMITERS = (",", ";", "\t")  # in order of preference on a tie


@dataclass(frozen=True)
class CsvLimits:
    max_field_chars: int = 131_072
    max_line_chars: int = 1_048_576
    max_columns: int = 1_000


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that occurs most often outside quotes in the header line; on a tie
    comma, then semicolon, then tab."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(_DELIMITERS, key=lambda d: (counts[d], -_DELIMITERS.index(d)))


class RecordReader:
    """Iterates ``(row_number, cells)`` over the data records of CSV text.

    Rows are numbered as a spreadsheet numbers them: every record counts, blank ones
    too, and a record with newlines inside quotes is one row. Blank records are not
    returned. Parse errors stop the file with ``malformed_csv``, naming the line.
    """

    def __init__(self, lines: Iterable[str], limits: CsvLimits) -> None:
        iterator = iter(lines)
        skipped, first = self._first_line(iterator)
        self._open(chain([first], iterator), limits, sniff_delimiter(first), skipped + 1, skipped)
        self.header = self._read_header()

    @classmethod
    def continuing(
        cls,
        lines: Iterable[str],
        limits: CsvLimits,
        delimiter: str,
        next_row: int,
        lines_before: int = 0,
    ) -> RecordReader:
        """A reader for the rest of a file whose header was read elsewhere: ``lines``
        start on a record boundary, that record is row ``next_row``, and ``lines_before``
        lines of the file come before it (for the line numbers of errors)."""
        reader = cls.__new__(cls)
        reader._open(iter(lines), limits, delimiter, next_row, lines_before)
        reader.header = []
        return reader

    def _open(
        self,
        lines: Iterator[str],
        limits: CsvLimits,
        delimiter: str,
        start: int,
        lines_before: int = 0,
    ) -> None:
        self._limits = limits
        self.delimiter = delimiter
        csv.field_size_limit(limits.max_field_chars)
        self._reader = csv.reader(lines, delimiter=delimiter, strict=True)
        self._start = start
        self.lines_before = lines_before

    @property
    def next_row(self) -> int:
        """The row number the next record will have."""
        return self._start

    @staticmethod
    def _first_line(lines: Iterator[str]) -> tuple[int, str]:
        for skipped, line in enumerate(lines):
            if line.strip():
                return skipped, line
        raise EmptyFile("The file has no header row: it is empty")

    def _read_header(self) -> list[str]:
        for _, cells in _translate_errors(self._records(), self):
            if len(cells) > self._limits.max_columns:
                raise MalformedCsv(
                    f"The header has {len(cells)} columns; at most "
                    f"{self._limits.max_columns} are allowed"
                )
            self._start += 1
            return [cell.strip() for cell in cells]
        raise EmptyFile("The file has no header row: it is empty")  # pragma: no cover

    @property
    def lines_read(self) -> int:
        """Lines of the file consumed so far, from its first line."""
        return self.lines_before + self._reader.line_num

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        # Numbering, dropping blank records ([] from csv) and parsing all stay in C.
        return filter(itemgetter(1), enumerate(self._reader, start=self._start))

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        """The data records; the iterator raises :class:`MalformedCsv` for a record csv
        cannot parse."""
        return _translate_errors(self._records(), self)


def _translate_errors(
    records: Iterator[tuple[int, list[str]]], reader: RecordReader
) -> Iterator[tuple[int, list[str]]]:
    try:
        yield from records
    except csv.Error as error:
        raise MalformedCsv(f"Line {reader.lines_read}: {error}") from error
