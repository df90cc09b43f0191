"""Parsed records in columnar batches on disk.

The inspect pass parses the upload once and writes its records as Arrow IPC files
of ``batch_rows`` rows each: columns ``row`` (the record's row number), ``width``
(how many cells the record had), ``c0``, ``c1``... (the raw cells, cut or padded
to the header's width) and ``key``. The import pass then reads these instead of
parsing the text again, and memory holds one batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import polars as pl

ROW = "row"
WIDTH = "width"
KEY = "key"  # the row's key as text, null where the key cell is invalid (see duplicates.py)


def cell_column(index: int) -> str:
    return f"c{index}"


def _frame(numbers: tuple[int, ...], rows: list[list[str]], width: int) -> pl.DataFrame:
    widths = [len(cells) for cells in rows]
    if any(w != width for w in widths):
        rows = [
            cells if len(cells) == width else [*cells[:width], *[""] * (width - len(cells))]
            for cells in rows
        ]
    columns = zip(*rows, strict=True) if rows else iter([()] * width)
    data: dict[str, object] = {ROW: numbers, WIDTH: widths}
    schema: dict[str, pl.DataType] = {ROW: pl.Int64(), WIDTH: pl.Int32()}
    for index, column in enumerate(columns):
        data[cell_column(index)] = column
        schema[cell_column(index)] = pl.String()
    return pl.DataFrame(data, schema=schema)


def write_batches(
    records: Iterable[tuple[int, list[str]]],
    width: int,
    folder: Path,
    batch_rows: int,
    annotate: Callable[[pl.DataFrame], pl.DataFrame] = lambda frame: frame,
) -> tuple[list[Path], int]:
    """Write ``records`` as batch files in ``folder``, each frame passed through
    ``annotate`` first; return the files and the row count."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    total = 0
    iterator = iter(records)
    while batch := list(islice(iterator, batch_rows)):
        numbers, rows = zip(*batch, strict=True)
        path = folder / f"{len(paths):06d}.arrow"
        annotate(_frame(numbers, list(rows), width)).write_ipc(path, compression="uncompressed")
        paths.append(path)
        total += len(batch)
    return paths, total


def read_batches(paths: Iterable[Path]) -> Iterator[pl.DataFrame]:
    for path in paths:
        yield pl.read_ipc(path)
