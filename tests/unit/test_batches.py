"""CsvBatches must give exactly the records the csv module gives, whichever path
(polars splitting quote-free lines, or csv) each part of the file takes."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from loadbay.domain.errors import JobFailure
from loadbay.pipeline.batches import (
    ROW,
    WIDTH,
    CsvBatches,
    cell_column,
    read_batches,
    write_batches,
)
from loadbay.pipeline.records import CsvLimits, RecordReader
from loadbay.pipeline.text import DecodedLines

Expected = tuple[list[str], list[tuple[int, int, list[str]]]]


def through_csv(data: bytes, limits: CsvLimits) -> Expected:
    records = RecordReader(DecodedLines(io.BytesIO(data), limits.max_line_chars), limits)
    width = len(records.header)
    rows = [
        (number, len(cells), [*cells[:width], *[""] * (width - len(cells))])
        for number, cells in records
    ]
    return records.header, rows


def through_batches(data: bytes, limits: CsvLimits, batch_rows: int, chunk_bytes: int) -> Expected:
    lines = DecodedLines(io.BytesIO(data), limits.max_line_chars, chunk_bytes=chunk_bytes)
    batches = CsvBatches(lines, limits, batch_rows)
    width = len(batches.header)
    rows = []
    for frame in batches.frames():
        assert frame.columns == [ROW, WIDTH, *(cell_column(i) for i in range(width))]
        for record in frame.iter_rows():
            rows.append((record[0], record[1], list(record[2:])))
    return batches.header, rows


def outcome(function, *args) -> object:  # type: ignore[no-untyped-def]
    try:
        return function(*args)
    except JobFailure as failure:
        return (type(failure).__name__, failure.code)


CELLS = [
    "a",
    "",
    " ",
    "  x  ",
    "Zoë",
    "李",
    "1,5",
    'say "hi"',
    "two\nlines",
    "cr\r\nlf",
    "=1",
    "-2",
]


def random_file(rng: random.Random) -> bytes:
    delimiter = rng.choice([",", ";", "\t"])
    width = rng.randint(1, 5)
    quoting = rng.random() < 0.5  # half the files have no quotes at all
    newline = rng.choice(["\n", "\r\n"])

    def cell() -> str:
        value = rng.choice(CELLS if quoting else [c for c in CELLS if c.isprintable()])
        if delimiter in value or '"' in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value.replace(delimiter, "")

    lines = [delimiter.join(f"h{i}" for i in range(width))]
    for _ in range(rng.randint(0, 60)):
        roll = rng.random()
        if roll < 0.05:
            lines.append("")
        elif roll < 0.08:
            lines.append("   ")
        else:
            count = width if roll < 0.85 else rng.randint(1, width + 2)
            lines.append(delimiter.join(cell() for _ in range(count)))
        if rng.random() < 0.1:
            newline = rng.choice(["\n", "\r\n"])
    text = newline.join(lines) + (newline if rng.random() < 0.8 else "")
    if rng.random() < 0.05:
        text = text.replace("a", "a\rb", 1)  # a stray carriage return
    return text.encode("utf-8")


@pytest.mark.parametrize("seed", range(40))
def test_random_files_give_the_same_records_as_the_csv_module(seed: int) -> None:
    rng = random.Random(seed)
    limits = CsvLimits()
    for _ in range(25):
        data = random_file(rng)
        expected = outcome(through_csv, data, limits)
        for batch_rows, chunk_bytes in ((3, 16), (7, 64), (1000, 1 << 20)):
            assert outcome(through_batches, data, limits, batch_rows, chunk_bytes) == expected, data


def test_a_quote_late_in_the_file_switches_to_csv_on_a_record_boundary() -> None:
    plain = b"".join(b"k%d,v%d\n" % (i, i) for i in range(200))
    data = b"key,value\n" + plain + b'q,"multi\nline"\nlast,1\n'
    header, rows = through_batches(data, CsvLimits(), batch_rows=50, chunk_bytes=256)
    assert (header, rows) == through_csv(data, CsvLimits())
    assert rows[-2] == (202, 2, ["q", "multi\nline"])
    assert rows[-1] == (203, 2, ["last", "1"])


def test_a_long_unquoted_field_fails_as_csv_would() -> None:
    limits = CsvLimits(max_field_chars=100, max_line_chars=10_000)
    data = b"a,b\n" + b"x" * 500 + b",y\n"
    expected = outcome(through_csv, data, limits)
    assert expected == ("MalformedCsv", "malformed_csv")
    assert outcome(through_batches, data, limits, 10, 1 << 20) == expected


def test_batches_round_trip_through_files(tmp_path: Path) -> None:
    data = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(1000))
    batches = CsvBatches(DecodedLines(io.BytesIO(data), 1 << 20), CsvLimits(), 300)
    paths, rows = write_batches(batches.frames(), tmp_path)
    assert rows == 1000
    assert len(paths) == 4
    frames = list(read_batches(paths))
    assert [f.height for f in frames] == [300, 300, 300, 100]
    assert frames[-1].row(-1) == (1001, 2, "999", "x")
