"""A dataset's table in a PostgreSQL target, written with ``COPY``.

Why: ``executemany`` sends and plans one ``INSERT ... ON CONFLICT`` per row, which keeps
the writer thread (and so the whole import) at the speed of a round trip per row. Here a
batch is one ``COPY`` into a temporary staging table, which PostgreSQL parses in bulk,
then one ``INSERT ... SELECT ... ON CONFLICT`` from it into the table. Both run in one
transaction, so a batch is written whole or not at all, and the staging table is dropped
at commit (``ON COMMIT DROP``).

The staging table is ``CREATE TEMP TABLE ... AS SELECT <the batch's columns> FROM <table>
WITH NO DATA``: the table's own column types, and nothing else. ``LIKE ... INCLUDING
DEFAULTS`` would also copy the columns the batch does not name, whose defaults (a
sequence's ``nextval``, say) would then run once in staging and again in the table.

The batch reaches ``COPY`` as polars' CSV, which spells values exactly as PostgreSQL's
CSV format reads them: a null is an empty field, an empty string is ``""``, booleans are
``true``/``false``, dates and datetimes ISO 8601. Two things need care, see
:func:`copy_payload`: ``pl.Object`` columns (Python values, e.g. integers beyond 64
bits), which polars cannot write, and a line that is exactly ``\\.``, which ``COPY``
takes for the end of the data and silently drops every row after it.

>>> sink = PostgresTableSink(engine, users_table, "external_id")  # doctest: +SKIP
>>> sink.upsert(("external_id", "first_name"), ("first_name",), frame)  # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import polars as pl
from sqlalchemy import Engine, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from loadbay.sinks.sql_table import SqlTableSink

if TYPE_CHECKING:
    import psycopg

_STAGING = "_loadbay_staging"  # a temporary table: private to the connection


class PostgresTableSink(SqlTableSink):
    """One dataset's table in PostgreSQL (psycopg 3): ``COPY`` in, ``= ANY`` lookups.

    A batch of keys that are all new (a first load) is worth a ``COPY`` straight into
    the table, half the work of staging then inserting. So that is tried first, under
    a savepoint: a key that exists fails it with a unique violation, and the batch goes
    through staging instead — as do the next batches, since a file that updates
    records tends to go on updating them, until the direct way is tried again.
    """

    RETRY_DIRECT_AFTER = 16  # batches staged after a direct COPY met an existing key

    def __init__(self, engine: Engine, table: Table, key: str) -> None:
        super().__init__(engine, table, key)
        self._staged_since_conflict: int | None = None  # None: try the direct COPY

    @property
    def copies_directly(self) -> bool:
        return self._staged_since_conflict is None

    def upsert(self, columns: Sequence[str], updated: Sequence[str], rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        names, changes = tuple(columns), tuple(c for c in updated if c != self._key)
        frame = one_row_per_key(_as_text(rows.select(names)), self._key, changes)
        payload = copy_payload(frame)
        create, copy, insert = self._statements_for(names, tuple(updated))
        with self._engine.begin() as connection:
            driver = cast("psycopg.Connection[Any]", connection.connection.driver_connection)
            data: bytes | str = payload if driver.info.encoding == "utf-8" else payload.decode()
            with driver.cursor() as cursor:
                if self.copies_directly and self._copy_directly(cursor, names, data, frame.height):
                    return
                self._count_staged()
                cursor.execute(create)
                _copy(cursor, copy, data, frame.height)
                cursor.execute(insert)

    def _copy_directly(
        self, cursor: psycopg.Cursor[Any], names: tuple[str, ...], data: bytes | str, rows: int
    ) -> bool:
        """COPY the batch into the table; False (and nothing written) if a key exists."""
        from psycopg.errors import UniqueViolation

        columns = ", ".join(self._quote(c) for c in names)
        cursor.execute("SAVEPOINT loadbay_direct")
        try:
            _copy(
                cursor,
                f"COPY {self._quote(self._table.name)} ({columns}) FROM STDIN (FORMAT csv)",
                data,
                rows,
            )
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT loadbay_direct")
            self._staged_since_conflict = 0
            return False
        cursor.execute("RELEASE SAVEPOINT loadbay_direct")
        return True

    def _count_staged(self) -> None:
        if self._staged_since_conflict is not None:
            self._staged_since_conflict += 1
            if self._staged_since_conflict > self.RETRY_DIRECT_AFTER:
                self._staged_since_conflict = None

    def _statements_for(
        self, columns: tuple[str, ...], updated: tuple[str, ...]
    ) -> tuple[str, str, str]:
        q = self._quote
        names = ", ".join(q(c) for c in columns)
        table, staging = q(self._table.name), q(_STAGING)
        return (
            f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table} WITH NO DATA",
            f"COPY {staging} ({names}) FROM STDIN (FORMAT csv)",
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
            f"ON CONFLICT ({q(self._key)}) {self._conflict_action(updated)}",
        )

    def existing_keys(self, keys: Collection[str]) -> set[str]:
        """One query with the keys as one array parameter, typed as the key column."""
        if not keys:
            return set()
        column = self._table.c[self._key]
        wanted = bindparam("keys", type_=ARRAY(column.type))
        with self._engine.connect() as connection:
            found = connection.execute(
                select(column).where(column == any_(wanted)), {"keys": list(keys)}
            )
            return set(found.scalars())


def _copy(cursor: psycopg.Cursor[Any], statement: str, data: bytes | str, rows: int) -> None:
    with cursor.copy(statement) as stream:
        stream.write(data)
    if cursor.rowcount != rows:  # never expected: refuse a short write
        raise RuntimeError(f"COPY took {cursor.rowcount} of {rows} rows")


def copy_payload(frame: pl.DataFrame) -> bytes:
    """``frame`` (no ``pl.Object`` columns) as the CSV lines ``COPY ... (FORMAT csv)`` reads.

    Every line of a frame of two or more columns has a comma, so none can be the end
    marker ``\\.``; a one-column frame quotes every text value to be sure of it.
    """
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        quote_style="non_numeric" if frame.width == 1 else "necessary",
    )
    return buffer.getvalue()


def one_row_per_key(frame: pl.DataFrame, key: str, changes: Sequence[str]) -> pl.DataFrame:
    """One row per key, with the values the row-by-row ``executemany`` upsert would leave.

    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` refuses to touch one row twice, where
    one statement per row updates it again. So a key that repeats keeps its first row's
    values, except the ``changes`` columns, which take its last row's (all of its first
    row's when nothing changes: ``DO NOTHING``). The importer never sends a repeated key;
    checking costs one hash pass.
    """
    if not frame.get_column(key).is_duplicated().any():
        return frame
    if not changes:
        return frame.unique(subset=[key], keep="first", maintain_order=True)
    chosen = [
        pl.col(c).last() if c in changes else pl.col(c).first() for c in frame.columns if c != key
    ]
    return frame.group_by(key, maintain_order=True).agg(chosen).select(frame.columns)


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each ``pl.Object`` column as text PostgreSQL reads for its type."""
    objects = [name for name, dtype in frame.schema.items() if dtype == pl.Object]
    if not objects:
        return frame
    return frame.with_columns(
        pl.Series(name, [_text(v) for v in frame.get_column(name).to_list()], dtype=pl.String)
        for name in objects
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return str(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    raise TypeError(f"cannot write a {type(value).__name__} value to PostgreSQL: {value!r}")
