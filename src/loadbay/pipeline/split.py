"""Cutting a large upload into chunks that workers parse and import in parallel.

A chunk is a byte range that starts and ends on a record boundary, with the row number
of its first record, so that every worker numbers rows as one reader of the whole file
would. Boundaries are found in one pass over the bytes, without parsing: a newline
ends a record when the quotes before it are balanced (RFC 4180 doubles a quote inside
a quoted field, so an odd count means the newline is inside one). Quote-free blocks,
the common case, are counted in C (``bytes.count``); blocks with quotes go line by line.

A stray quote inside an unquoted field (``5'10"``) is a literal for the csv module but
flips the parity here, so a boundary may then land inside a quoted field. That cannot
pass unnoticed: the chunk before such a boundary ends inside a quoted field, which its
parser reports. The import then parses the file again as a single chunk (see
``import_flow.py``), so a wrong cut costs time, never a wrong row.

Only UTF-8 files are cut (a newline byte is always a newline there); UTF-16 files, and
files smaller than ``chunk_bytes``, are one chunk parsed from the first byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from loadbay.domain.datasets import Dataset
from loadbay.domain.rows import resolve_header
from loadbay.pipeline.records import CsvLimits, RecordReader
from loadbay.pipeline.text import DecodedLines

_BLOCK = 1 << 20
_QUOTE = b'"'
_NEWLINE = b"\n"


@dataclass(frozen=True)
class Chunk:
    """A byte range of records: ``end`` None runs to the end of the file."""

    start: int
    end: int | None
    first_row: int  # the row number of its first record (the header is row 1)
    lines_before: int  # lines of the file before it, for the line numbers of errors

    @property
    def whole(self) -> bool:
        """The file is not cut: this chunk parses it from its first byte, header too."""
        return self.first_row == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        return cls(data["start"], data["end"], data["first_row"], data["lines_before"])


@dataclass(frozen=True)
class Header:
    """What the first record says: the cells, the delimiter, and where the data starts."""

    cells: list[str]
    delimiter: str
    encoding: str
    data_start: int  # byte offset of the first data record
    first_row: int  # its row number
    lines_before: int


def read_header(binary: BinaryIO, dataset: Dataset, limits: CsvLimits) -> Header:
    """Read the header record and check it names the dataset's required columns
    (``missing_columns`` etc.), reading no further than the header."""
    lines = DecodedLines(binary, limits.max_line_chars)
    consumed: list[str] = []

    def counted() -> Iterator[str]:
        for line in lines:
            consumed.append(line)
            yield line

    reader = RecordReader(counted(), limits)
    resolve_header(dataset, reader.header)  # raises for a header the dataset cannot take
    bom = 3 if lines.encoding == "utf-8-sig" else 0
    header_lines = consumed[: reader.lines_read]
    data_start = (
        bom + sum(len(line.encode("utf-8")) for line in header_lines)
        if lines.encoding.startswith("utf-8")
        else 0  # not cut: the single chunk parses from the first byte
    )
    return Header(
        reader.header,
        reader.delimiter,
        lines.encoding,
        data_start,
        reader.next_row,
        reader.lines_read,
    )


def whole_file() -> list[Chunk]:
    """The one chunk of a file that is not cut: parsed from its first byte, header too."""
    return [Chunk(0, None, 0, 0)]


def find_chunks(data: BinaryIO, header: Header, size: int, chunk_bytes: int) -> list[Chunk]:
    """Chunks of about ``chunk_bytes`` each; ``data`` streams the file from
    ``header.data_start``."""
    if not header.encoding.startswith("utf-8") or size <= chunk_bytes:
        return whole_file()
    count = math.ceil((size - header.data_start) / chunk_bytes)
    step = (size - header.data_start) / count
    targets = [header.data_start + round(step * k) for k in range(1, count)]
    return _Cutter(header, size, targets).cut(data)


class _Cutter:
    """Walks the bytes once, cutting at the first record boundary past each target."""

    def __init__(self, header: Header, size: int, targets: list[int]) -> None:
        self._header = header
        self._size = size
        self._targets = targets
        self._chunks: list[Chunk] = []
        self._start = header.data_start
        self._first_row = header.first_row
        self._lines_before = header.lines_before
        self._records = 0  # records ended since the data start
        self._lines = 0  # newlines since the data start
        self._inside = False  # within a quoted field

    def cut(self, data: BinaryIO) -> list[Chunk]:
        position = self._header.data_start
        while self._targets and (block := data.read(_BLOCK)):
            if not self._inside and _QUOTE not in block:
                self._plain(block, position)
            else:
                self._quoted(block, position)
            position += len(block)
        self._chunks.append(Chunk(self._start, None, self._first_row, self._lines_before))
        return self._chunks

    def _plain(self, block: bytes, position: int) -> None:
        """No quote open and none in the block: every newline ends a record."""
        while self._targets:
            relative = max(self._targets[0] - position, 0)
            found = block.find(_NEWLINE, relative) if relative < len(block) else -1
            if found < 0:
                break
            newlines = block.count(_NEWLINE, 0, found + 1)
            self._boundary(position + found + 1, self._records + newlines, self._lines + newlines)
        newlines = block.count(_NEWLINE)
        self._records += newlines
        self._lines += newlines

    def _quoted(self, block: bytes, position: int) -> None:
        offset = 0
        *lines, tail = block.split(_NEWLINE)
        for line in lines:
            offset += len(line) + 1
            self._lines += 1
            if _QUOTE in line and line.count(_QUOTE) % 2:
                self._inside = not self._inside
            if self._inside:
                continue
            self._records += 1
            if self._targets and position + offset >= self._targets[0]:
                self._boundary(position + offset, self._records, self._lines)
        if tail.count(_QUOTE) % 2:
            self._inside = not self._inside

    def _boundary(self, offset: int, records: int, lines: int) -> None:
        """Cut before the record that starts at ``offset``."""
        if offset < self._size:
            self._chunks.append(Chunk(self._start, offset, self._first_row, self._lines_before))
            self._start = offset
            self._first_row = self._header.first_row + records
            self._lines_before = self._header.lines_before + lines
        while self._targets and self._targets[0] <= offset:
            self._targets.pop(0)
        if offset >= self._size:
            self._targets.clear()
