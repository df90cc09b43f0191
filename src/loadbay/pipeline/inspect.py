"""The first pass over an upload: is it readable text, CSV, with the columns the
dataset needs, and how many data rows does it hold? Nothing is written before this
pass succeeds, so a bad file leaves no partial import behind."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO

from loadbay.domain.datasets import Dataset
from loadbay.domain.errors import NoDataRows
from loadbay.domain.rows import HeaderMap, resolve_header
from loadbay.pipeline.records import CsvLimits, RecordReader
from loadbay.pipeline.text import DecodedLines

Opener = Callable[[], AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class FileShape:
    encoding: str
    delimiter: str
    header: HeaderMap
    rows: int


def inspect_upload(open_source: Opener, dataset: Dataset, limits: CsvLimits) -> FileShape:
    """Read the whole file once; raise the :class:`JobFailure` that describes it if bad."""
    with open_source() as binary:
        lines = DecodedLines(binary, limits.max_line_chars)
        encoding = lines.encoding
        records = RecordReader(lines, limits)
        header = resolve_header(dataset, records.header)
        rows = sum(1 for _ in records)
    if rows == 0:
        raise NoDataRows("The file has a header row but no data rows")
    return FileShape(encoding, records.delimiter, header, rows)
