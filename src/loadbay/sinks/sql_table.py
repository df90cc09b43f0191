"""A dataset's records as rows of a SQL table in the target database, upserted by key
(``INSERT ... ON CONFLICT``). The table is created if missing.

This is the generic path (SQLite, the default target): one ``executemany`` over the
batch's rows, which SQLite runs in-process at about 3 µs a row. A PostgreSQL target gets
:class:`~loadbay.sinks.postgres.PostgresTableSink` instead, which writes with ``COPY``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    MetaData,
    Numeric,
    Table,
    Text,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from loadbay.domain.datasets import ColumnType, Dataset

_SQL_TYPES: dict[ColumnType, TypeEngine[Any]] = {
    ColumnType.INTEGER: BigInteger(),
    ColumnType.DECIMAL: Numeric(),
    ColumnType.BOOLEAN: Boolean(),
    ColumnType.DATE: Date(),
    ColumnType.DATETIME: DateTime(timezone=True),
}


_LOOKUP_CHUNK = 900  # below every SQLite build's bound-parameter limit


def _chunks(items: Sequence[str], size: int = _LOOKUP_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlTableSink:
    """One dataset's table, written with ``executemany``. Statements are built once per
    column set."""

    def __init__(self, engine: Engine, table: Table, key: str) -> None:
        self._engine = engine
        self._table = table
        self._key = key
        self._statements: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        self._placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._quote = engine.dialect.identifier_preparer.quote

    def _upsert_sql(self, columns: tuple[str, ...], updated: tuple[str, ...]) -> str:
        statement = self._statements.get((columns, updated))
        if statement is None:
            q = self._quote
            names = ", ".join(q(c) for c in columns)
            marks = ", ".join([self._placeholder] * len(columns))
            statement = (
                f"INSERT INTO {q(self._table.name)} ({names}) VALUES ({marks}) "
                f"ON CONFLICT ({q(self._key)}) {self._conflict_action(updated)}"
            )
            self._statements[(columns, updated)] = statement
        return statement

    def upsert(self, columns: Sequence[str], updated: Sequence[str], rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        statement = self._upsert_sql(tuple(columns), tuple(updated))
        with self._engine.begin() as connection:
            connection.exec_driver_sql(statement, rows.select(columns).rows())

    def _conflict_action(self, updated: tuple[str, ...]) -> str:
        q = self._quote
        changes = [c for c in updated if c != self._key]
        if not changes:
            return "DO NOTHING"
        # A row that would not change is not rewritten: re-uploading the same file (a
        # nightly full sync) or re-running a chunk writes no new row versions.
        table = q(self._table.name)
        differs = "IS DISTINCT FROM" if self._engine.dialect.name == "postgresql" else "IS NOT"
        return (
            "DO UPDATE SET "
            + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in changes)
            + " WHERE "
            + " OR ".join(f"{table}.{q(c)} {differs} excluded.{q(c)}" for c in changes)
        )

    def existing_keys(self, keys: Collection[str]) -> set[str]:
        found: set[str] = set()
        if not keys:
            return found
        key_column = self._table.c[self._key]
        with self._engine.connect() as connection:
            for part in _chunks(list(keys)):
                found.update(
                    connection.execute(select(key_column).where(key_column.in_(part))).scalars()
                )
        return found


class SqlTarget:
    """The target database: one table per dataset, created on first use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._metadata = MetaData()
        self._sinks: dict[str, SqlTableSink] = {}
        self._lock = threading.Lock()

    def sink(self, dataset: Dataset) -> SqlTableSink:
        with self._lock:
            sink = self._sinks.get(dataset.name)
            if sink is None:
                table = self._table(dataset)
                sink = self._sink_class()(self._engine, table, dataset.key)
                self._sinks[dataset.name] = sink
            return sink

    @property
    def engine(self) -> Engine:
        return self._engine

    def table(self, dataset: Dataset) -> Table:
        """The dataset's table (created if it does not exist yet), e.g. to export it."""
        return self.sink(dataset)._table

    def _sink_class(self) -> type[SqlTableSink]:
        if self._engine.dialect.name == "postgresql":
            from loadbay.sinks.postgres import PostgresTableSink  # imports this module

            return PostgresTableSink
        return SqlTableSink

    def _table(self, dataset: Dataset) -> Table:
        table = Table(
            dataset.table,
            self._metadata,
            *(
                Column(
                    c.key,
                    _SQL_TYPES.get(c.type, Text()),
                    primary_key=c.key == dataset.key,
                    nullable=c.key != dataset.key,
                )
                for c in dataset.columns
            ),
        )
        try:
            try:
                table.create(self._engine, checkfirst=True)
            except DBAPIError:
                # Another process created it between the check and the create (on
                # PostgreSQL a unique violation on pg_type, an IntegrityError): the
                # second check finds it.
                table.create(self._engine, checkfirst=True)
        except BaseException:
            self._metadata.remove(table)  # so that a later attempt can declare it again
            raise
        return table
