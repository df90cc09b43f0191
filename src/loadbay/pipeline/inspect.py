"""The first pass over an upload: is it readable text, CSV, with the columns the
dataset needs? It parses every record once, into columnar batch files for the import
pass (see ``batches.py``), and counts them. Nothing is written to the sink before this
pass succeeds, so a bad file leaves no partial import behind."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import polars as pl

from loadbay.domain.datasets import Dataset
from loadbay.domain.errors import NoDataRows
from loadbay.domain.rows import HeaderMap, resolve_header
from loadbay.pipeline.batches import CsvBatches, write_batches
from loadbay.pipeline.duplicates import KeyColumn
from loadbay.pipeline.records import CsvLimits
from loadbay.pipeline.text import DecodedLines

Opener = Callable[[], AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class FileShape:
    encoding: str
    delimiter: str
    header: HeaderMap
    rows: int
    batches: list[Path]


def inspect_upload(
    open_source: Opener,
    dataset: Dataset,
    limits: CsvLimits,
    folder: Path,
    batch_rows: int,
    today: date,
    on_bytes: Callable[[int], None] = lambda read: None,
) -> FileShape:
    """Parse the whole file into batches in ``folder``; raise the :class:`JobFailure`
    that describes it if it is bad. ``on_bytes`` hears how far it has read after each
    batch."""
    with open_source() as binary:
        lines = DecodedLines(binary, limits.max_line_chars)
        records = CsvBatches(lines, limits, batch_rows)
        header = resolve_header(dataset, records.header)
        key_column = KeyColumn(dataset, header, today)

        def annotate(frame: pl.DataFrame) -> pl.DataFrame:
            on_bytes(lines.bytes_read)
            return key_column(frame)

        batches, rows = write_batches(records.frames(), folder, annotate)
    if rows == 0:
        raise NoDataRows("The file has a header row but no data rows")
    return FileShape(lines.encoding, records.delimiter, header, rows, batches)
