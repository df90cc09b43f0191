"""Parsed records in columnar batches on disk.

The inspect pass parses the upload once and writes its records as Arrow IPC files
of about ``batch_rows`` rows each: columns ``row`` (the record's row number, as a
spreadsheet numbers it), ``width`` (how many cells the record had), ``c0``, ``c1``...
(the raw cells, cut or padded to the header's width) and ``key`` (see
``duplicates.py``). The import pass reads these instead of parsing the text again,
and memory holds one batch at a time.

Most files have no quotes at all. While the lines have none (and no stray carriage
return, and no line longer than a field may be), every line is one record whose cells
are exactly the line split at the delimiter, so polars splits them in C. From the
first chunk with a quote on, the csv module parses the rest: that chunk starts on a
line boundary outside any quoted field, since no quote came before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from pathlib import Path

import polars as pl

from loadbay.pipeline.records import CsvLimits, RecordReader
from loadbay.pipeline.text import DecodedLines

ROW = "row"
WIDTH = "width"
KEY = "key"  # the row's key as text, null where the key cell is invalid


def cell_column(index: int) -> str:
    return f"c{index}"


class _Lines:
    """Lines handed out one by one (to csv) or a chunk at a time (to polars)."""

    def __init__(self, chunks: Iterator[list[str]]) -> None:
        self._chunks = chunks
        self._pending: list[str] = []
        self._position = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._position >= len(self._pending):
            self._pending, self._position = next(self._chunks), 0
        self._position += 1
        return self._pending[self._position - 1]

    def next_chunk(self) -> list[str] | None:
        if self._position < len(self._pending):
            rest = self._pending[self._position :]
            self._pending, self._position = [], 0
            return rest
        return next(self._chunks, None)


class CsvBatches:
    """The header of an upload, then its data records as frames (see the module doc)."""

    def __init__(self, lines: DecodedLines, limits: CsvLimits, batch_rows: int) -> None:
        self._lines = _Lines(lines.chunks())
        self._limits = limits
        self._batch_rows = batch_rows
        header_reader = RecordReader(self._lines, limits)
        self.header = header_reader.header
        self.delimiter = header_reader.delimiter
        self._width = len(self.header)
        self._next_row = header_reader.next_row
        self._lines_before = header_reader.lines_read

    @classmethod
    def continuing(
        cls,
        lines: DecodedLines,
        limits: CsvLimits,
        batch_rows: int,
        *,
        delimiter: str,
        width: int,
        next_row: int,
    ) -> CsvBatches:
        """The records of a part of a file whose header was read elsewhere: ``lines``
        start on a record boundary, the first record being row ``next_row``."""
        batches = cls.__new__(cls)
        batches._lines = _Lines(lines.chunks())
        batches._limits = limits
        batches._batch_rows = batch_rows
        batches.header = []
        batches.delimiter = delimiter
        batches._width = width
        batches._next_row = next_row
        batches._lines_before = lines.lines_before
        return batches

    def frames(self) -> Iterator[pl.DataFrame]:
        width = self._width
        pending: list[str] = []
        while (chunk := self._lines.next_chunk()) is not None:
            if not self._plain(chunk):
                if pending:
                    yield self._split(pending, width)
                yield from self._parsed(chain(chunk, self._lines), width)
                return
            pending.extend(chunk)
            while len(pending) >= self._batch_rows:
                yield self._split(pending[: self._batch_rows], width)
                del pending[: self._batch_rows]
        if pending:
            yield self._split(pending, width)

    def _plain(self, chunk: list[str]) -> bool:
        text = "".join(chunk)
        return (
            '"' not in text
            and text.count("\r") == text.count("\r\n")
            and max(map(len, chunk)) <= self._limits.max_field_chars
        )

    def _split(self, lines: list[str], width: int) -> pl.DataFrame:
        first = self._next_row
        self._next_row += len(lines)
        self._lines_before += len(lines)
        body = pl.Series("line", lines, pl.String).str.strip_suffix("\n").str.strip_suffix("\r")
        frame = pl.DataFrame(
            {ROW: pl.int_range(first, first + len(lines), eager=True, dtype=pl.Int64), "line": body}
        ).filter(pl.col("line") != "")  # a blank line is not a record
        cells = pl.col("line").str.split_exact(self.delimiter, width - 1).struct
        return frame.select(
            ROW,
            (pl.col("line").str.count_matches(self.delimiter, literal=True) + 1)
            .cast(pl.Int32)
            .alias(WIDTH),
            *(cells.field(f"field_{i}").fill_null("").alias(cell_column(i)) for i in range(width)),
        )

    def _parsed(self, lines: Iterable[str], width: int) -> Iterator[pl.DataFrame]:
        records = RecordReader.continuing(
            lines, self._limits, self.delimiter, self._next_row, self._lines_before
        )
        iterator = iter(records)
        while batch := list(islice(iterator, self._batch_rows)):
            numbers, rows = zip(*batch, strict=True)
            yield _frame(numbers, list(rows), width)


def _frame(numbers: tuple[int, ...], rows: list[list[str]], width: int) -> pl.DataFrame:
    widths = [len(cells) for cells in rows]
    if any(w != width for w in widths):
        rows = [
            cells if len(cells) == width else [*cells[:width], *[""] * (width - len(cells))]
            for cells in rows
        ]
    data: dict[str, object] = {ROW: numbers, WIDTH: widths}
    schema: dict[str, pl.DataType] = {ROW: pl.Int64(), WIDTH: pl.Int32()}
    for index, column in enumerate(zip(*rows, strict=True)):
        data[cell_column(index)] = column
        schema[cell_column(index)] = pl.String()
    return pl.DataFrame(data, schema=schema)


def write_batches(
    frames: Iterable[pl.DataFrame],
    folder: Path,
    annotate: Callable[[pl.DataFrame], pl.DataFrame] = lambda frame: frame,
) -> tuple[list[Path], int]:
    """Write each frame, passed through ``annotate``, as a batch file in ``folder``;
    return the files and the row count."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    total = 0
    for frame in frames:
        path = folder / f"{len(paths):06d}.arrow"
        annotate(frame).write_ipc(path, compression="uncompressed")
        paths.append(path)
        total += frame.height
    return paths, total


def read_batches(paths: Iterable[Path]) -> Iterator[pl.DataFrame]:
    for path in paths:
        yield pl.read_ipc(path)
