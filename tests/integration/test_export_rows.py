"""The export reader: the matching rows in key order, a batch at a time — SQLite in
keyset pages (one short query per batch), PostgreSQL through one server-side cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert

from loadbay.datasets.registry import builtin_datasets
from loadbay.db.engine import make_engine
from loadbay.exports.rows import count_rows, read_batches
from loadbay.exports.spec import plan_export
from loadbay.sinks.sql_table import SqlTarget

pytestmark = [pytest.mark.db, pytest.mark.no_stores]

ROWS = 95


@pytest.fixture
def engine(database_urls: tuple[str, str]) -> Iterator[Engine]:
    engine = make_engine(database_urls[1])
    yield engine
    engine.dispose()


def _people(engine: Engine) -> Any:
    (users,) = [d for d in builtin_datasets() if d.name == "user"]
    table = SqlTarget(engine).table(users)
    rows = [
        {
            "external_id": f"U{i:03d}",
            "first_name": f"N{i}",
            "status": "active" if i % 3 else "inactive",
            "date_of_birth": date(1980 + i % 30, 1, 1),
        }
        for i in reversed(range(ROWS))  # stored out of key order
    ]
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
    return users, table


def _statements(engine: Engine) -> list[tuple[str, str]]:
    """Every statement run from now on, with the class of the DB-API cursor it ran on."""
    seen: list[tuple[str, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((statement, type(cursor).__name__))

    return seen


def test_matching_rows_in_key_order_batch_by_batch(engine: Engine) -> None:
    users, table = _people(engine)
    spec = plan_export(
        users,
        ["first_name", "external_id"],
        {"status": "active", "date_of_birth": {"gte": "1990-01-01"}},
        "csv",
    )
    expected = [(f"N{i}", f"U{i:03d}") for i in range(ROWS) if i % 3 and 1980 + i % 30 >= 1990]
    assert count_rows(engine, table, spec.conditions) == len(expected)
    seen = _statements(engine)
    batches = list(read_batches(engine, table, "external_id", spec.columns, spec.conditions, 10))
    assert [len(b) for b in batches[:-1]] == [10] * (len(batches) - 1)
    assert 1 <= len(batches[-1]) <= 10
    assert [row for batch in batches for row in batch] == expected
    selects = [(s, c) for s, c in seen if s.lstrip().upper().startswith("SELECT")]
    if engine.dialect.name == "postgresql":
        assert len(selects) == 1, "one streamed query"
        assert selects[0][1] == "ServerCursor", "on a server-side cursor (psycopg's)"
    else:
        assert len(selects) >= len(batches), "a query per page"
        assert all("LIMIT" in s.upper() for s, _ in selects)


def test_no_match_gives_no_batch(engine: Engine) -> None:
    users, table = _people(engine)
    spec = plan_export(users, None, {"external_id": "nobody"}, "csv")
    assert count_rows(engine, table, spec.conditions) == 0
    assert list(read_batches(engine, table, "external_id", spec.columns, spec.conditions, 10)) == []


def test_a_page_boundary_on_the_last_row(engine: Engine) -> None:
    users, table = _people(engine)
    spec = plan_export(users, ["external_id"], None, "csv")
    batches = list(read_batches(engine, table, "external_id", spec.columns, (), 19))
    assert [len(b) for b in batches] == [19] * 5
    assert [r[0] for b in batches for r in b] == [f"U{i:03d}" for i in range(ROWS)]


def test_reading_stopped_early_releases_the_cursor_at_once(engine: Engine) -> None:
    """An export stopped mid-way (a cancel, a stop) closes its reader: the server-side
    cursor is closed then, not left for the garbage collector to find open."""
    import gc

    _, table = _people(engine)
    batches = read_batches(engine, table, "external_id", ["external_id"], (), 10)
    assert len(next(batches)) == 10
    batches.close()
    gc.collect()  # an unclosed psycopg cursor warns here; warnings are errors
    assert engine.pool.checkedout() == 0, "the connection is back in the pool"
