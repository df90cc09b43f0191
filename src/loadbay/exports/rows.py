"""Reads an export's rows from the target table in batches, never all at once.

PostgreSQL streams one query through a server-side cursor (``stream_results``);
SQLite, whose cursors hold the database, pages by key (``WHERE key > :last ORDER BY
key LIMIT n``), one short query per batch. Both give the rows in key order.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, and_, func, select

from loadbay.exports.spec import Condition


def _where(table: Table, conditions: Sequence[Condition]) -> ColumnElement[bool]:
    tests: list[ColumnElement[bool]] = []
    for condition in conditions:
        column = table.c[condition.column]
        value = condition.value
        match condition.operator:
            case "eq":
                tests.append(column.is_(None) if value is None else column == value)
            case "gt":
                tests.append(column > value)
            case "gte":
                tests.append(column >= value)
            case "lt":
                tests.append(column < value)
            case "lte":
                tests.append(column <= value)
            case "in":
                tests.append(column.in_(value))
    return and_(True, *tests)


def count_rows(engine: Engine, table: Table, conditions: Sequence[Condition]) -> int:
    """How many rows match: the export's progress total, taken at its start."""
    query = select(func.count()).select_from(table).where(_where(table, conditions))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def read_batches(
    engine: Engine,
    table: Table,
    key: str,
    columns: Sequence[str],
    conditions: Sequence[Condition],
    batch_rows: int,
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The matching rows, ``columns`` only, in key order, ``batch_rows`` at a time."""
    where = _where(table, conditions)
    if engine.dialect.name == "postgresql":
        yield from _streamed(engine, table, key, columns, where, batch_rows)
    else:
        yield from _paged(engine, table, key, columns, where, batch_rows)


def _query(table: Table, key: str, columns: Sequence[str], where: Any) -> Select[Any]:
    # The key comes first (the keyset needs it); dropped from the rows if not asked for.
    return select(table.c[key], *(table.c[c] for c in columns)).where(where)


def _streamed(
    engine: Engine, table: Table, key: str, columns: Sequence[str], where: Any, size: int
) -> Generator[list[tuple[Any, ...]], None, None]:
    query = _query(table, key, columns, where).order_by(table.c[key])
    with (
        engine.connect() as connection,
        connection.execution_options(stream_results=True, yield_per=size).execute(query) as result,
    ):
        # Closed when the reading stops early too (the generator is closed): the
        # server-side cursor is released at once, not whenever it is collected.
        for partition in result.partitions():
            yield [tuple(row)[1:] for row in partition]


def _paged(
    engine: Engine, table: Table, key: str, columns: Sequence[str], where: Any, size: int
) -> Generator[list[tuple[Any, ...]], None, None]:
    last: Any = None
    while True:
        query = _query(table, key, columns, where)
        if last is not None:
            query = query.where(table.c[key] > last)
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(table.c[key]).limit(size)).all()
        if not rows:
            return
        last = rows[-1][0]
        yield [tuple(row)[1:] for row in rows]
        if len(rows) < size:
            return
