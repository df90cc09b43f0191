"""Export file formats, written batch by batch into a streamed store write.

Each writer takes rows (tuples in the export's column order, values as the database
gives them) and sends bytes to the :class:`~loadbay.storage.base.ObjectWriter` as it
goes, so memory holds one batch whatever the row count. XLSX is the exception that
proves the rule: a ZIP needs its directory at the end, so xlsxwriter writes rows to a
local temporary file (``constant_memory``: one row in memory), copied out at the end.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol, cast

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from loadbay.domain.datasets import ColumnType, Dataset
from loadbay.pipeline.report import spreadsheet_safe, spreadsheet_safe_column
from loadbay.storage.base import ObjectWriter

XLSX_MAX_ROWS = 1_048_575  # a worksheet's rows below its header; then a new sheet
_COPY_CHUNK = 1 << 20

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}


class RowWriter(Protocol):
    def write(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def close(self) -> None:
        """Write what is left (footers); the file is complete after this."""
        ...


def open_writer(
    format: str, out: ObjectWriter, dataset: Dataset, columns: Sequence[str], scratch: Path
) -> RowWriter:
    if format == "csv":
        types = [dataset.column(c).type for c in columns]
        return CsvWriter(out, dataset.labels_of(columns), types)
    if format == "jsonl":
        return JsonLinesWriter(out, columns)
    if format == "xlsx":
        return XlsxWriter(out, dataset.labels_of(columns), scratch)
    if format == "parquet":
        return ParquetWriter(out, dataset, columns)
    raise ValueError(f"unknown format {format!r}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


_TEXT_TYPES = frozenset(
    {ColumnType.STRING, ColumnType.EMAIL, ColumnType.PHONE, ColumnType.ENUM, ColumnType.URL}
)


class CsvWriter:
    """RFC 4180 with CRLF, the labels as header, formula-looking text escaped (the
    result file's conventions).

    A batch is formatted by polars, column by column (five times the csv module's
    speed); a batch whose values polars cannot take as their column's type (an
    integer beyond 64 bits, say) goes through the csv module instead, to the same
    bytes."""

    def __init__(self, out: ObjectWriter, labels: Sequence[str], types: Sequence[ColumnType]):
        self._out = out
        self._types = list(types)
        self._names = [f"c{i}" for i in range(len(types))]
        self._write([[spreadsheet_safe(label) for label in labels]])

    def _write(self, rows: Sequence[Sequence[str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        self._out.write(buffer.getvalue().encode("utf-8"))

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        try:
            frame = self._frame(rows)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            self._write([[spreadsheet_safe(_text(v)) for v in row] for row in rows])
            return
        buffer = io.BytesIO()
        frame.select(*(spreadsheet_safe_column(n) for n in self._names)).write_csv(
            buffer, include_header=False, line_terminator="\r\n", quote_style="necessary"
        )
        self._out.write(buffer.getvalue())

    def _frame(self, rows: Sequence[tuple[Any, ...]]) -> pl.DataFrame:
        """The batch as text columns, each value spelled as :func:`_text` spells it."""
        columns = list(zip(*rows, strict=True))
        series = []
        for name, kind, values in zip(self._names, self._types, columns, strict=True):
            if kind in _TEXT_TYPES:
                column = pl.Series(name, values, dtype=pl.String)
            elif kind is ColumnType.DATE:
                column = pl.Series(name, values, dtype=pl.Date).dt.to_string("%Y-%m-%d")
            elif kind is ColumnType.BOOLEAN:  # "true" / "false"
                column = pl.Series(name, values, dtype=pl.Boolean).cast(pl.String)
            elif kind is ColumnType.INTEGER:
                column = pl.Series(name, values, dtype=pl.Int64).cast(pl.String)
            else:  # decimals and datetimes: Python's own spelling
                column = pl.Series(name, [None if v is None else _text(v) for v in values])
            series.append(column.cast(pl.String))
        return pl.DataFrame(series)

    def close(self) -> None:
        pass


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact: a JSON number would go through a float
    return value


class JsonLinesWriter:
    """One JSON object per line, keyed by column key; dates ISO 8601, decimals as text."""

    def __init__(self, out: ObjectWriter, columns: Sequence[str]) -> None:
        self._out = out
        self._columns = list(columns)

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        lines = (
            json.dumps(
                {c: _json_value(v) for c, v in zip(self._columns, row, strict=True)},
                ensure_ascii=False,
            )
            for row in rows
        )
        self._out.write(("\n".join(lines) + "\n").encode("utf-8"))

    def close(self) -> None:
        pass


EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number, and drops the rest
_EXCEL_INTEGERS: int = 10**EXCEL_DIGITS  # integers below this in size are exact


def _exact_in_excel(value: int | Decimal) -> bool:
    """Whether Excel holds the number exactly; if not it is written as text, so that an
    18-digit id or a 20-digit amount is not silently rounded."""
    if isinstance(value, int):
        return abs(value) < _EXCEL_INTEGERS
    if not value.is_finite():
        return False
    # 15 significant digits survive a double's round trip (DBL_DIG), exponent aside.
    digits = len(value.normalize().as_tuple().digits)
    return digits <= EXCEL_DIGITS and value.adjusted() < 308  # a double's range


class XlsxWriter:
    """A workbook with the labels as the header row; text is always written as text
    (``write_string``), so a value that looks like a formula is never one. Integers
    and decimals are numbers where Excel holds them exactly, text where it cannot."""

    def __init__(self, out: ObjectWriter, labels: Sequence[str], scratch: Path) -> None:
        self._out = out
        self._labels = list(labels)
        scratch.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(suffix=".xlsx", dir=scratch)
        os.close(handle)  # xlsxwriter opens it by name
        self._path = Path(name)
        self._book = xlsxwriter.Workbook(
            str(self._path), {"constant_memory": True, "remove_timezone": True}
        )
        self._dates = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._times = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._sheet: Any = None
        self._row = XLSX_MAX_ROWS  # a sheet is started on the first row

    def _next_sheet(self) -> None:
        self._sheet = self._book.add_worksheet()
        for index, label in enumerate(self._labels):
            self._sheet.write_string(0, index, label)
        self._row = 0

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for row in rows:
            if self._row >= XLSX_MAX_ROWS:
                self._next_sheet()
            self._row += 1
            for index, value in enumerate(row):
                self._cell(self._row, index, value)

    def _cell(self, row: int, column: int, value: Any) -> None:
        sheet = self._sheet
        if value is None:
            return
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, float) or (
            isinstance(value, int | Decimal) and _exact_in_excel(value)
        ):
            sheet.write_number(row, column, float(value))
        elif isinstance(value, datetime):
            sheet.write_datetime(row, column, value, self._times)
        elif isinstance(value, date):
            sheet.write_datetime(row, column, value, self._dates)
        else:
            sheet.write_string(row, column, str(value))

    def close(self) -> None:
        if self._sheet is None:
            self._next_sheet()  # an export of no rows still has its header
        self._book.close()
        try:
            with self._path.open("rb") as source:
                while chunk := source.read(_COPY_CHUNK):
                    self._out.write(chunk)
        finally:
            self._path.unlink(missing_ok=True)


_ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.INTEGER: pa.int64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
    ColumnType.DATETIME: pa.timestamp("us", tz="UTC"),
    # Decimals as text: the target's NUMERIC has no fixed scale to give decimal128.
    ColumnType.DECIMAL: pa.string(),
}


class _Sink(io.RawIOBase):
    """An ObjectWriter as the binary file pyarrow writes to."""

    def __init__(self, out: ObjectWriter) -> None:
        self._out = out
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._out.write(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position


class ParquetWriter:
    """One row group per batch, typed as the dataset's columns."""

    def __init__(self, out: ObjectWriter, dataset: Dataset, columns: Sequence[str]) -> None:
        self._columns = list(columns)
        types = [_ARROW_TYPES.get(dataset.column(c).type, pa.string()) for c in columns]
        self._schema = pa.schema(list(zip(self._columns, types, strict=True)))
        self._decimal = [dataset.column(c).type is ColumnType.DECIMAL for c in columns]
        self._sink = _Sink(out)
        self._writer = pq.ParquetWriter(
            cast(IO[bytes], self._sink), self._schema, compression="zstd"
        )

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        arrays = []
        for index, field in enumerate(self._schema):
            values = [row[index] for row in rows]
            if self._decimal[index]:
                values = [None if v is None else str(v) for v in values]
            arrays.append(pa.array(values, type=field.type))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        self._writer.close()
