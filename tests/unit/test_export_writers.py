"""The CSV export writer formats batches with polars; its bytes must be exactly what
the csv module writes for the same cells (the report's conventions)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from loadbay.domain.datasets import ColumnType
from loadbay.exports.writers import CsvWriter, XlsxWriter, _text
from loadbay.pipeline.report import spreadsheet_safe
from loadbay.storage.memory import MemoryStore

TYPES = [
    ColumnType.STRING,
    ColumnType.INTEGER,
    ColumnType.BOOLEAN,
    ColumnType.DATE,
    ColumnType.DECIMAL,
    ColumnType.DATETIME,
    ColumnType.ENUM,
]
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ROWS: list[tuple[Any, ...]] = [
    (
        "plain",
        1,
        True,
        date(1990, 1, 31),
        Decimal("12.50"),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "a",
    ),
    ("=HYPERLINK(1)", -5, False, None, Decimal("-0.001"), None, None),
    (
        "-12.5",
        None,
        None,
        date(2001, 12, 1),
        None,
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "b",
    ),
    ('quote " and, comma', 0, True, None, None, None, ""),
    ("two\nlines\r\nand CR\r", 2**40, None, None, Decimal("1E+3"), None, "@x"),
    ("", None, None, None, None, None, "\tx"),
    (None, None, None, None, None, None, "+1"),
    ("ünïcödé ✓", 7, False, date(1900, 2, 28), Decimal("0"), None, "-"),
]


def expected(labels: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(label) for label in labels])
    writer.writerows([[spreadsheet_safe(_text(v)) for v in row] for row in rows])
    return buffer.getvalue().encode("utf-8")


def written(labels: list[str], batches: list[list[tuple[Any, ...]]]) -> bytes:
    store = MemoryStore("exports")
    with store.open_write("export.csv") as out:
        writer = CsvWriter(out, labels, TYPES)
        for batch in batches:
            writer.write(batch)
        writer.close()
    with store.open_read("export.csv") as handle:
        return handle.read()


LABELS = ["Name", "Count", "OK", "Born", "Price", "At", "=Kind"]


def test_every_kind_of_value_is_spelled_as_the_csv_module_spells_it() -> None:
    assert written(LABELS, [ROWS]) == expected(LABELS, ROWS)


def test_the_batch_takes_the_polars_path() -> None:
    """(The fallback would give the same bytes, only five times slower.)"""
    with MemoryStore("exports").open_write("export.csv") as out:
        frame = CsvWriter(out, LABELS, TYPES)._frame(ROWS)
    assert frame.height == len(ROWS)


def test_batch_by_batch_is_the_same_file() -> None:
    assert written(LABELS, [ROWS[:3], [], ROWS[3:5], ROWS[5:]]) == expected(LABELS, ROWS)


@pytest.mark.parametrize(
    "odd",
    [
        ("big", 2**70, None, None, None, None, None),  # beyond 64 bits: the csv module path
        ("num", None, None, None, None, None, 5),  # a number where text was declared
    ],
)
def test_values_polars_cannot_type_still_give_the_same_bytes(odd: tuple[Any, ...]) -> None:
    rows = [ROWS[0], odd, ROWS[1]]
    assert written(LABELS, [rows]) == expected(LABELS, rows)


def test_xlsx_numbers_excel_would_round_are_written_as_text(tmp_path: Path) -> None:
    """Excel keeps 15 significant digits: an 18-digit id or a 20-digit amount as a number
    would be silently rounded, so it is text; what Excel holds exactly is a number."""
    values: list[Any] = [
        2**40,
        10**15 - 1,
        10**18 + 7,
        -(10**17),
        Decimal("12.50"),
        Decimal("0.1"),
        Decimal("1E+3"),
        Decimal("12345678901234567.5"),
        Decimal("0.123456789012345678"),
        2.5,
    ]
    store = MemoryStore("exports")
    with store.open_write("export.xlsx") as out:
        writer = XlsxWriter(out, ["Value"], tmp_path)
        writer.write([(value,) for value in values])
        writer.close()
    with store.open_read("export.xlsx") as handle:
        sheet = openpyxl.load_workbook(io.BytesIO(handle.read())).active
    assert sheet is not None
    cells = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert cells == [
        2**40,
        10**15 - 1,
        "1000000000000000007",
        "-100000000000000000",
        12.5,
        0.1,
        1000,
        "12345678901234567.5",
        "0.123456789012345678",
        2.5,
    ]
