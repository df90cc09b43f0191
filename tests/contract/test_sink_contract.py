"""One contract every Sink passes: SQLite's ``executemany`` and PostgreSQL's ``COPY``.

Each test runs on the target database of ``database_urls``: SQLite by default, a fresh
PostgreSQL schema with ``LOADBAY_TEST_DB=postgresql`` (``make test`` runs both). Batches
are built the way the importer builds them, by :class:`ColumnarValidator` from raw
cells, so the sinks see the very dtypes an import hands them (text, ``Int64``,
``Boolean``, and ``pl.Object`` for integers beyond 64 bits).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import polars as pl
import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from loadbay.datasets.registry import builtin_datasets
from loadbay.db.engine import make_engine
from loadbay.domain.datasets import Column, ColumnType, Dataset
from loadbay.domain.rows import resolve_header
from loadbay.pipeline.columnar_rules import ColumnarValidator
from loadbay.sinks.base import Sink
from loadbay.sinks.postgres import PostgresTableSink
from loadbay.sinks.sql_table import SqlTableSink, SqlTarget

TODAY = date(2026, 11, 22)
LOCATION_HEADER = ["Location Code", "Location Name", "Location Type", "Parent Location Code"]
USER_HEADER = ["External ID", "First Name", "Last Name", "Email", "Phone", "Date of Birth"]
USER_HEADER += ["Organisation ID", "Location Code", "Role", "Status"]
#: What the sinks' writers could take for something else: CSV syntax, COPY's end marker
#: and NULL spellings, line breaks, quotes, non-ASCII.
AWKWARD = [
    'Zoë "Z" O\'Brien, Jr.',
    "two\nlines",
    "crlf\r\nline",
    "cr\ronly",
    "\\.",
    "\\N",
    "NULL",
    ",",
    '"',
    "\t tabbed \t",
    "😀 多言語 עברית",
    "\\",
    "x" * 5000,
]


def builtin(name: str) -> Dataset:
    return next(d for d in builtin_datasets() if d.name == name)


EVERYTHING = Dataset(
    "everything",
    "Every column type",
    "code",
    "everything",
    (
        Column("code", "Code", required=True),
        Column("count", "Count", ColumnType.INTEGER),
        Column("price", "Price", ColumnType.DECIMAL),
        Column("active", "Active", ColumnType.BOOLEAN),
        Column("born", "Born", ColumnType.DATE),
        Column("seen_at", "Seen At", ColumnType.DATETIME),
        Column("email", "Email", ColumnType.EMAIL),
        Column("phone", "Phone", ColumnType.PHONE),
        Column("level", "Level", ColumnType.ENUM, values=("basic", "Advanced")),
        Column("site", "Site", ColumnType.URL),
        Column("note", "Note"),
    ),
)


@pytest.fixture
def engine(database_urls: tuple[str, str]) -> Iterator[Engine]:
    built = make_engine(database_urls[1])
    yield built
    built.dispose()


@pytest.fixture
def target(engine: Engine) -> SqlTarget:
    return SqlTarget(engine)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def batch(dataset: Dataset, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Any:
    """(columns, updated, frame) as the importer hands them to the sink; every row valid."""
    validator = ColumnarValidator(dataset, resolve_header(dataset, header), TODAY)
    cells = {f"c{i}": [row[i] for row in rows] for i in range(len(header))}
    checked = validator.check(pl.DataFrame(cells, schema=dict.fromkeys(cells, pl.String)))
    assert checked["ok"].all(), checked.filter(~pl.col("ok"))
    return validator.columns, validator.updated_columns, checked.select(validator.columns)


def frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """A batch of text columns, built directly."""
    return pl.DataFrame(
        [list(row) for row in rows], schema=dict.fromkeys(columns, pl.String), orient="row"
    )


def stored(engine: Engine, dataset: Dataset) -> dict[str, dict[str, Any]]:
    """Every row of the dataset's table by key, each value as Python reads it back."""
    with engine.connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {dataset.table}")).mappings()
        return {
            row[dataset.key]: {k: as_python(dataset, k, v) for k, v in row.items()}
            for row in result
        }


def as_python(dataset: Dataset, key: str, value: Any) -> Any:
    """A stored value as the same Python value on both databases (SQLite keeps dates and
    datetimes as text, booleans as 0/1, decimals as numbers)."""
    if value is None:
        return None
    kind = dataset.column(key).type
    if kind is ColumnType.DATE and isinstance(value, str):
        return date.fromisoformat(value)
    if kind is ColumnType.DATETIME and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind is ColumnType.DECIMAL:
        return Decimal(str(value))
    if kind is ColumnType.BOOLEAN:
        return bool(value)
    return value


def test_the_target_writes_postgresql_with_copy(engine: Engine, target: SqlTarget) -> None:
    sink = target.sink(builtin("location"))
    expected = PostgresTableSink if is_postgres(engine) else SqlTableSink
    assert type(sink) is expected
    assert target.sink(builtin("location")) is sink


@pytest.mark.parametrize("name", ["location", "organisation", "user"])
def test_inserts_rows_of_each_builtin_dataset(engine: Engine, target: SqlTarget, name: str) -> None:
    dataset = builtin(name)
    rows = {
        "location": [["L1", "Leeds", "State", ""], ["L2", "Kirkstall", "district", "L1"]],
        "organisation": [
            ["O1", "Acme", 'Makes, "things"\nand more', "L1", "info@acme.example", "INACTIVE"],
            ["O2", "Globex", "", "", "", ""],
        ],
        "user": [
            ["U1", "Ann", "Lee", "ann@example.org", "", "1990-01-31", "O1", "L1", "Reviewer", ""],
            ["U2", "Bo", "", "", "+441234567890", "2026-11-22", "", "", "", "inactive"],
        ],
    }[name]
    header = {"location": LOCATION_HEADER, "user": USER_HEADER}.get(name, dataset.labels)
    target.sink(dataset).upsert(*batch(dataset, header, rows))
    got = stored(engine, dataset)
    if name == "location":
        assert got["L1"] == {"code": "L1", "name": "Leeds", "type": "state", "parent_code": None}
        assert got["L2"]["type"] == "district"
        assert got["L2"]["parent_code"] == "L1"
    elif name == "organisation":
        assert got["O1"]["description"] == 'Makes, "things"\nand more'
        assert got["O1"]["status"] == "inactive"
        assert got["O2"] == {
            "external_id": "O2",
            "name": "Globex",
            "description": None,
            "location_code": None,
            "email": None,
            "status": "active",
        }
    else:
        assert got["U1"]["date_of_birth"] == date(1990, 1, 31)
        assert got["U1"]["role"] == "reviewer"
        assert got["U1"]["status"] == "active"
        assert got["U2"]["date_of_birth"] == TODAY
        assert got["U2"]["phone"] == "+441234567890"
        assert got["U2"]["last_name"] is None
        assert got["U2"]["role"] == "member"


def test_upsert_updates_only_the_updated_columns(engine: Engine, target: SqlTarget) -> None:
    users = builtin("user")
    sink = target.sink(users)
    sink.upsert(
        *batch(
            users,
            USER_HEADER,
            [
                ["U1", "Ann", "Lee", "ann@example.org", "", "1990-01-31", "", "", "reviewer", ""],
                ["U2", "Bo", "Ng", "bo@example.org", "", "", "", "", "org_admin", "inactive"],
            ],
        )
    )
    # A second upload names four columns: role and status come with their defaults,
    # but only what the upload names may overwrite a stored record.
    columns, updated, values = batch(
        users,
        ["External ID", "First Name", "Email", "Phone"],
        [["U1", "Annie", "", "+449876543210"], ["U3", "Cy", "cy@example.org", ""]],
    )
    assert set(columns) - set(updated) == {"role", "status"}
    sink.upsert(columns, updated, values)
    got = stored(engine, users)
    assert got["U1"] == {
        "external_id": "U1",
        "first_name": "Annie",
        "last_name": "Lee",
        "email": None,
        "phone": "+449876543210",
        "date_of_birth": date(1990, 1, 31),
        "organisation_id": None,
        "location_code": None,
        "role": "reviewer",
        "status": "active",
    }
    assert got["U2"]["first_name"] == "Bo"
    assert got["U2"]["status"] == "inactive"
    assert (got["U3"]["first_name"], got["U3"]["role"], got["U3"]["status"]) == (
        "Cy",
        "member",
        "active",
    )


@pytest.mark.parametrize("updated", [(), ("code",)], ids=["nothing", "only-the-key"])
def test_nothing_but_the_key_updated_leaves_stored_rows_alone(
    engine: Engine, target: SqlTarget, updated: tuple[str, ...]
) -> None:
    locations = builtin("location")
    sink = target.sink(locations)
    columns = ("code", "name", "type")
    sink.upsert(columns, columns, frame(columns, [("L1", "Leeds", "state")]))
    sink.upsert(
        columns, updated, frame(columns, [("L1", "Other", "block"), ("L2", "New", "block")])
    )
    got = stored(engine, locations)
    assert (got["L1"]["name"], got["L1"]["type"]) == ("Leeds", "state")
    assert (got["L2"]["name"], got["L2"]["type"]) == ("New", "block")


def _count_updates(engine: Engine, table: str) -> None:
    """Count every row the database rewrites in ``table`` into ``updates``."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE updates (code TEXT)"))
        if is_postgres(engine):
            connection.execute(
                text(
                    "CREATE FUNCTION count_update() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN INSERT INTO updates VALUES (NEW.code); RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER counted AFTER UPDATE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION count_update()"
                )
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER counted AFTER UPDATE ON {table} "
                    "BEGIN INSERT INTO updates VALUES (NEW.code); END"
                )
            )


def test_a_row_that_would_not_change_is_not_rewritten(engine: Engine, target: SqlTarget) -> None:
    locations = builtin("location")
    sink = target.sink(locations)
    columns = ("code", "name", "type", "parent_code")
    first = [("L1", "Leeds", "state", None), ("L2", "York", "state", None)]
    first += [("L3", "Hull", "block", "L1"), ("L4", "Ripon", "block", "L2")]
    sink.upsert(columns, columns, frame(columns, first))
    _count_updates(engine, locations.table)
    again = [("L1", "Leeds", "state", None), ("L2", "York", "district", None)]
    again += [("L3", "Hull", "block", None), ("L4", "Ripon", "block", "L2")]
    sink.upsert(columns, columns, frame(columns, again))
    with engine.connect() as connection:
        rewritten = connection.execute(text("SELECT code FROM updates ORDER BY code")).scalars()
        assert list(rewritten) == ["L2", "L3"], "a null compares equal to a null, not to L1"
    got = stored(engine, locations)
    assert (got["L2"]["type"], got["L3"]["parent_code"]) == ("district", None)


def test_nulls_and_empty_strings_stay_apart(engine: Engine, target: SqlTarget) -> None:
    locations = builtin("location")
    columns = ("code", "name", "parent_code")
    sink = target.sink(locations)
    sink.upsert(
        columns, columns, frame(columns, [("L1", "", None), ("L2", None, ""), ("L3", "", "")])
    )
    got = stored(engine, locations)
    assert (got["L1"]["name"], got["L1"]["parent_code"]) == ("", None)
    assert (got["L2"]["name"], got["L2"]["parent_code"]) == (None, "")
    assert (got["L3"]["name"], got["L3"]["parent_code"]) == ("", "")
    # ... and an update may turn one into the other.
    sink.upsert(columns, columns, frame(columns, [("L1", None, ""), ("L2", "", None)]))
    got = stored(engine, locations)
    assert (got["L1"]["name"], got["L1"]["parent_code"]) == (None, "")
    assert (got["L2"]["name"], got["L2"]["parent_code"]) == ("", None)


def test_every_column_type(engine: Engine, target: SqlTarget) -> None:
    int64 = 2**63 - 1
    rows = [
        ["A", str(int64), "12.50", "yes", "2000-02-29", "2026-11-22T06:00:00Z", "a@b.example",
         "+441234567890", "ADVANCED", "https://example.org/a?b=c,d", "plain"],
        ["B", str(-int64 - 1), "-0.001", "False", "0001-01-01", "2026-11-22 07:30:15.25+05:30",
         "", "", "", "", ""],
        ["C", "0", "1e3", "1", "9999-12-31", "2026-06-01T00:00:00-07:00", "", "", "basic", "", "x"],
        ["D", "", "", "", "", "", "", "", "", "", ""],
    ]  # fmt: skip
    target.sink(EVERYTHING).upsert(*batch(EVERYTHING, EVERYTHING.labels, rows))
    got = stored(engine, EVERYTHING)
    assert got["A"] == {
        "code": "A",
        "count": int64,
        "price": Decimal("12.50"),
        "active": True,
        "born": date(2000, 2, 29),
        "seen_at": datetime(2026, 11, 22, 6, tzinfo=UTC),
        "email": "a@b.example",
        "phone": "+441234567890",
        "level": "Advanced",
        "site": "https://example.org/a?b=c,d",
        "note": "plain",
    }
    assert got["B"]["count"] == -int64 - 1
    assert got["B"]["price"] == Decimal("-0.001")
    assert got["B"]["active"] is False
    assert got["B"]["born"] == date(1, 1, 1)
    assert got["B"]["seen_at"] == datetime(
        2026, 11, 22, 7, 30, 15, 250000, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    assert (got["C"]["count"], got["C"]["price"], got["C"]["active"]) == (0, 1000, True)
    assert got["C"]["born"] == date(9999, 12, 31)
    assert got["C"]["seen_at"] == datetime(2026, 6, 1, 7, tzinfo=UTC)
    assert got["D"] == {"code": "D"} | dict.fromkeys(got["D"].keys() - {"code"})


def test_python_values_in_an_object_column(engine: Engine, target: SqlTarget) -> None:
    """Integers the validator keeps as Python ints come in a ``pl.Object`` column."""
    columns = ("code", "count", "active")
    values = pl.DataFrame(
        {
            "code": ["A", "B", "C"],
            "count": pl.Series([2**62, None, -7], dtype=pl.Object),
            "active": pl.Series([True, None, False], dtype=pl.Object),
        }
    )
    target.sink(EVERYTHING).upsert(columns, columns, values)
    got = stored(engine, EVERYTHING)
    assert [got[k]["count"] for k in "ABC"] == [2**62, None, -7]
    assert [got[k]["active"] for k in "ABC"] == [True, None, False]


def test_integers_beyond_64_bits(engine: Engine, target: SqlTarget) -> None:
    """They reach the database exactly: a NUMERIC column keeps them (PostgreSQL); a 64-bit
    one refuses the batch (and SQLite has no integers wider than 64 bits)."""
    numbers = Dataset(
        "numbers", "N", "code", "numbers",
        (Column("code", "Code", required=True), Column("n", "N", ColumnType.INTEGER)),
    )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE numbers (code TEXT PRIMARY KEY, n NUMERIC(60))"))
    columns, updated, values = batch(
        numbers, ["Code", "N"], [["A", "123456789012345678901234567890"], ["B", "-5"], ["C", ""]]
    )
    assert values.schema["n"] == pl.Object
    sink = target.sink(numbers)
    if not is_postgres(engine):
        with pytest.raises(OverflowError):
            sink.upsert(columns, updated, values)
        return
    sink.upsert(columns, updated, values)
    got = stored(engine, numbers)
    assert [got[k]["n"] for k in "ABC"] == [Decimal("123456789012345678901234567890"), -5, None]


def test_awkward_text_survives(engine: Engine, target: SqlTarget) -> None:
    locations = builtin("location")
    columns = ("code", "name", "parent_code")
    rows = [(f"K{i}", value, value) for i, value in enumerate(AWKWARD)]
    target.sink(locations).upsert(columns, columns, frame(columns, rows))
    got = stored(engine, locations)
    assert [(got[code]["name"], got[code]["parent_code"]) for code, _, _ in rows] == [
        (value, value) for value in AWKWARD
    ]


def test_awkward_keys_in_a_one_column_batch(engine: Engine, target: SqlTarget) -> None:
    """A line holding only ``\\.`` would end COPY's data early: every key still arrives."""
    keys = Dataset("keys", "Keys", "code", "keys", (Column("code", "Code", required=True),))
    target.sink(keys).upsert(("code",), ("code",), frame(("code",), [(k,) for k in AWKWARD]))
    target.sink(keys).upsert(("code",), (), frame(("code",), [("after",), ("\\.",)]))
    assert set(stored(engine, keys)) == {*AWKWARD, "after"}


@pytest.mark.parametrize("problem", ["null key", "integer beyond 64 bits"])
def test_a_failing_batch_writes_nothing(engine: Engine, target: SqlTarget, problem: str) -> None:
    columns = ("code", "count", "note")
    sink = target.sink(EVERYTHING)
    sink.upsert(columns, columns, frame(columns, [("A", "1", "kept")]).cast({"count": pl.Int64}))
    bad: Any = (None, 2, "bad") if problem == "null key" else ("X", 2**70, "bad")
    rows = [("A", 5, "changed"), ("B", 6, "new"), bad, ("C", 7, "new")]
    dtype = pl.Int64 if problem == "null key" else pl.Object
    values = pl.DataFrame(
        {
            "code": [r[0] for r in rows],
            "count": pl.Series([r[1] for r in rows], dtype=dtype),
            "note": [r[2] for r in rows],
        }
    )
    with pytest.raises((DBAPIError, psycopg.Error, OverflowError)):
        sink.upsert(columns, columns, values)
    got = stored(engine, EVERYTHING)
    assert set(got) == {"A"}
    assert (got["A"]["count"], got["A"]["note"]) == (1, "kept")
    sink.upsert(columns, columns, values.filter(pl.col("code").is_in(["A", "B", "C"])))
    assert {k: v["note"] for k, v in stored(engine, EVERYTHING).items()} == {
        "A": "changed",
        "B": "new",
        "C": "new",
    }


def test_a_key_twice_in_one_batch(engine: Engine, target: SqlTarget) -> None:
    """As one statement per row would leave it: the last row's updated columns, the first
    row's others; ``DO NOTHING`` keeps the first row."""
    locations = builtin("location")
    columns = ("code", "name", "type")
    sink = target.sink(locations)
    sink.upsert(
        columns,
        ("code", "name"),
        frame(
            columns, [("L1", "first", "state"), ("L2", "only", "block"), ("L1", "last", "block")]
        ),
    )
    sink.upsert(columns, (), frame(columns, [("L3", "first", "state"), ("L3", "last", "block")]))
    got = stored(engine, locations)
    assert (got["L1"]["name"], got["L1"]["type"]) == ("last", "state")
    assert (got["L2"]["name"], got["L2"]["type"]) == ("only", "block")
    assert (got["L3"]["name"], got["L3"]["type"]) == ("first", "state")


def test_existing_keys_with_many_keys(target: SqlTarget) -> None:
    sink: Sink = target.sink(builtin("location"))
    columns = ("code", "name")
    stored_keys = [f"L{i:05d}" for i in range(0, 20_000, 2)]
    sink.upsert(columns, columns, frame(columns, [(k, "x") for k in stored_keys]))
    asked = [f"L{i:05d}" for i in range(20_000)] + ["", "l00000", "L00000 ", "\\.", "😀"]
    assert sink.existing_keys(asked) == set(stored_keys)
    assert sink.existing_keys(set(asked[:3])) == {"L00000", "L00002"}
    assert sink.existing_keys([]) == set()
    assert sink.existing_keys(["nope"]) == set()


def test_an_empty_batch_writes_nothing(engine: Engine, target: SqlTarget) -> None:
    locations = builtin("location")
    columns = ("code", "name")
    target.sink(locations).upsert(columns, columns, frame(columns, []))
    assert stored(engine, locations) == {}


def _race_to_create(engines: list[Engine], dataset: Dataset) -> list[BaseException]:
    """Each engine's own SqlTarget asks for the dataset's sink at the same moment."""
    import threading

    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def create(engine: Engine) -> None:
        barrier.wait()
        try:
            SqlTarget(engine).sink(dataset)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=create, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_workers_creating_the_same_table_at_once_all_get_it(
    database_urls: tuple[str, str],
) -> None:
    """Each worker process has its own SqlTarget; on a fresh database they race to
    create the dataset's table. Every one of them must end up with a working sink."""
    dataset = builtin("location")
    for trial in range(5):
        engines = [make_engine(database_urls[1]) for _ in range(4)]
        errors = _race_to_create(engines, dataset)
        with engines[0].begin() as connection:
            connection.execute(text(f"DROP TABLE {dataset.table}"))
        for engine in engines:
            engine.dispose()
        assert not errors, f"trial {trial}: {errors[0]!r}"


def test_new_keys_are_copied_straight_in_and_existing_ones_staged(
    engine: Engine, target: SqlTarget
) -> None:
    if not is_postgres(engine):
        pytest.skip("the direct COPY is PostgreSQL's; SQLite runs executemany")
    locations = builtin("location")
    sink = target.sink(locations)
    assert isinstance(sink, PostgresTableSink)
    columns = ("code", "name", "type")
    sink.upsert(columns, columns, frame(columns, [["A", "One", "state"], ["B", "Two", "state"]]))
    assert sink.copies_directly, "all new: no conflict, still copying directly"
    # One new key and one existing: the direct COPY meets B, and nothing of it stays.
    sink.upsert(columns, columns, frame(columns, [["C", "Three", "state"], ["B", "2", "block"]]))
    assert not sink.copies_directly, "the conflict sent the batch through staging"
    got = stored(engine, locations)
    assert {k: (v["name"], v["type"]) for k, v in got.items()} == {
        "A": ("One", "state"),
        "B": ("2", "block"),
        "C": ("Three", "state"),
    }
    for n in range(PostgresTableSink.RETRY_DIRECT_AFTER + 1):
        sink.upsert(columns, columns, frame(columns, [[f"N{n}", "New", "state"]]))
    assert sink.copies_directly, "after a while the direct COPY is tried again"
    sink.upsert(columns, columns, frame(columns, [["Z", "Last", "state"]]))
    assert len(stored(engine, locations)) == 3 + PostgresTableSink.RETRY_DIRECT_AFTER + 2
