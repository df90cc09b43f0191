"""An export request checked against its dataset: typed filter values, and a clear
error naming the column for everything else."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from loadbay.datasets.registry import builtin_datasets
from loadbay.domain.datasets import Column, ColumnType, Dataset
from loadbay.exports.spec import MAX_IN_VALUES, Condition, InvalidExport, plan_export


def users() -> Dataset:
    (found,) = [d for d in builtin_datasets() if d.name == "user"]
    return found


TYPED = Dataset(
    name="things",
    title="Things",
    key="id",
    table="things",
    columns=(
        Column("id", "ID", ColumnType.STRING, required=True),
        Column("count", "Count", ColumnType.INTEGER),
        Column("price", "Price", ColumnType.DECIMAL),
        Column("ok", "OK", ColumnType.BOOLEAN),
        Column("at", "At", ColumnType.DATETIME),
    ),
)


def test_columns_by_key_or_label_in_the_order_asked() -> None:
    spec = plan_export(users(), ["EMAIL", "External ID"], None, "csv")
    assert spec.columns == ("email", "external_id")
    assert plan_export(users(), None, None, "csv").columns == tuple(c.key for c in users().columns)


def test_filter_values_take_the_column_type() -> None:
    spec = plan_export(
        users(),
        None,
        {"Status": "ACTIVE", "date_of_birth": {"gte": "1990-01-01", "lt": "2000-01-01"}},
        "parquet",
    )
    assert spec.conditions == (
        Condition("status", "eq", "active"),
        Condition("date_of_birth", "gte", date(1990, 1, 1)),
        Condition("date_of_birth", "lt", date(2000, 1, 1)),
    )
    typed = plan_export(
        TYPED,
        None,
        {
            "count": {"gt": "3"},
            "price": {"lte": 9.5},
            "ok": "true",
            "at": {"gte": "2026-01-01T10:00:00"},
            "id": {"in": ["a", "b"]},
        },
        "jsonl",
    )
    assert [c.value for c in typed.conditions] == [
        3,
        Decimal("9.5"),
        True,
        datetime(2026, 1, 1, 10, tzinfo=UTC),
        ("a", "b"),
    ]


def test_null_equality_means_empty() -> None:
    spec = plan_export(users(), None, {"email": None}, "csv")
    assert spec.conditions == (Condition("email", "eq", None),)


@pytest.mark.parametrize(
    ("columns", "filters", "fmt", "code", "named"),
    [
        (["nope"], None, "csv", "unknown_column", "'nope'"),
        (["email", "Email"], None, "csv", "duplicate_column", "twice"),
        (None, {"nope": 1}, "csv", "unknown_column", "'nope'"),
        (None, {"status": {"gte": "active"}}, "csv", "invalid_filter", "Status"),
        (None, {"status": "asleep"}, "csv", "invalid_filter", "Status"),
        (None, {"email": {"regex": "."}}, "csv", "invalid_filter", "Email"),
        (None, {"email": {}}, "csv", "invalid_filter", "Email"),
        (None, {"email": {"gt": None}}, "csv", "invalid_filter", "Email"),
        (None, {"email": {"in": []}}, "csv", "invalid_filter", "Email"),
        (None, {"email": {"in": ["a"] * (MAX_IN_VALUES + 1)}}, "csv", "invalid_filter", "Email"),
        (None, {"email": ["a"]}, "csv", "invalid_filter", "Email"),
        (None, {"date_of_birth": "31/12/1990"}, "csv", "invalid_filter", "Date of Birth"),
        (None, None, "pdf", "unknown_format", "'pdf'"),
    ],
)
def test_what_is_wrong_is_named(
    columns: list[str] | None, filters: dict[str, Any] | None, fmt: str, code: str, named: str
) -> None:
    with pytest.raises(InvalidExport) as caught:
        plan_export(users(), columns, filters, fmt)
    assert caught.value.code == code
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"count": "three"}, "Count"),
        ({"count": 2.5}, "Count"),
        ({"count": True}, "Count"),
        ({"price": "cheap"}, "Price"),
        ({"ok": "maybe"}, "OK"),
        ({"ok": {"gt": True}}, "OK"),
        ({"at": "noon"}, "At"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(filters: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidExport, match=named):
        plan_export(TYPED, None, filters, "csv")


def test_the_request_round_trips_through_the_job_record() -> None:
    spec = plan_export(users(), ["email"], {"date_of_birth": {"gte": "1990-01-01"}}, "xlsx")
    again = type(spec).from_json(users(), spec.to_json())
    assert again == spec
    assert spec.extension == "xlsx"
