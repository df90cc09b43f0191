"""What an export asks for, checked against its dataset: the columns, the filters, the
format. Every problem is a 422 that names the column, before any job exists.

E.g. columns ``["external_id", "Email"]`` and filters ``{"status": "Active",
"date_of_birth": {"gte": "1990-01-01"}}`` on the user dataset give the columns
``("external_id", "email")`` and the conditions ``status eq "active"`` (as declared)
and ``date_of_birth gte date(1990, 1, 1)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from loadbay.domain.datasets import Column, ColumnType, Dataset
from loadbay.domain.errors import Unprocessable

FORMATS: dict[str, str] = {"csv": "csv", "jsonl": "jsonl", "xlsx": "xlsx", "parquet": "parquet"}
"""Format name -> file extension."""

RANGES = ("gt", "gte", "lt", "lte")
OPERATORS = ("eq", *RANGES, "in")
MAX_IN_VALUES = 1000
#: Types whose values have an order a range means something for.
_ORDERED = frozenset(
    {
        ColumnType.INTEGER,
        ColumnType.DECIMAL,
        ColumnType.DATE,
        ColumnType.DATETIME,
        ColumnType.STRING,
    }
)


class InvalidExport(Unprocessable):
    code = "invalid_export"


@dataclass(frozen=True)
class Condition:
    """One test on a column: ``value`` typed as the column (None: ``eq`` means null)."""

    column: str
    operator: str
    value: Any


@dataclass(frozen=True)
class ExportSpec:
    dataset: str
    columns: tuple[str, ...]  # keys, in the order the file has them
    conditions: tuple[Condition, ...]
    format: str
    filters: dict[str, Any]  # as asked, for the job's record and the audit log

    @property
    def extension(self) -> str:
        return FORMATS[self.format]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "columns": list(self.columns),
            "filters": self.filters,
            "format": self.format,
        }

    @classmethod
    def from_json(cls, dataset: Dataset, data: Mapping[str, Any]) -> ExportSpec:
        return plan_export(dataset, data["columns"], data["filters"], data["format"])


def plan_export(
    dataset: Dataset,
    columns: Sequence[str] | None,
    filters: Mapping[str, Any] | None,
    format: str,
) -> ExportSpec:
    """The export of ``dataset`` asked for, checked; columns and filter columns may be
    named by key or label, in any letter case."""
    if format not in FORMATS:
        raise InvalidExport(
            f"Unknown format {format!r}; one of {', '.join(FORMATS)}", code="unknown_format"
        )
    lookup: dict[str, Column] = {}
    for column in dataset.columns:
        lookup[column.key.casefold()] = column
        lookup[column.label.casefold()] = column
    chosen = tuple(_column(lookup, name).key for name in columns) if columns else None
    if chosen is not None and len(set(chosen)) != len(chosen):
        raise InvalidExport("A column is asked for twice", code="duplicate_column")
    conditions: list[Condition] = []
    for name, test in (filters or {}).items():
        column = _column(lookup, name)
        conditions += _conditions(column, test)
    return ExportSpec(
        dataset=dataset.name,
        columns=chosen or tuple(c.key for c in dataset.columns),
        conditions=tuple(conditions),
        format=format,
        filters=dict(filters or {}),
    )


def _column(lookup: Mapping[str, Column], name: Any) -> Column:
    column = lookup.get(str(name).strip().casefold())
    if column is None:
        raise InvalidExport(f"Unknown column {name!r}", code="unknown_column")
    return column


def _conditions(column: Column, test: Any) -> list[Condition]:
    if not isinstance(test, Mapping):
        return [Condition(column.key, "eq", _value(column, test, "eq"))]
    if not test:
        raise InvalidExport(f"{column.label}: an empty filter", code="invalid_filter")
    found = []
    for operator, value in test.items():
        if operator not in OPERATORS:
            raise InvalidExport(
                f"{column.label}: unknown operator {operator!r}; one of {', '.join(OPERATORS)}",
                code="invalid_filter",
            )
        if operator in RANGES and column.type not in _ORDERED:
            raise InvalidExport(
                f"{column.label}: a {column.type.value} column takes no range, only equality",
                code="invalid_filter",
            )
        if operator == "in":
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                raise InvalidExport(
                    f"{column.label}: 'in' takes a list of 1 to {MAX_IN_VALUES} values",
                    code="invalid_filter",
                )
            typed: Any = tuple(_value(column, v, operator) for v in value)
        else:
            typed = _value(column, value, operator)
        found.append(Condition(column.key, operator, typed))
    return found


def _value(column: Column, value: Any, operator: str) -> Any:
    """``value`` as the column's type; None only where it can mean null (``eq``)."""
    if value is None:
        if operator == "eq":
            return None
        raise InvalidExport(f"{column.label}: {operator} needs a value", code="invalid_filter")
    if isinstance(value, Mapping | list):
        raise InvalidExport(f"{column.label}: {value!r} is not a value", code="invalid_filter")
    try:
        return _typed(column, value)
    except (ValueError, InvalidOperation) as error:
        raise InvalidExport(
            f"{column.label}: {value!r} is not a valid {column.type.value} ({error})",
            code="invalid_filter",
        ) from error


def _typed(column: Column, value: Any) -> Any:
    kind = column.type
    if kind is ColumnType.INTEGER:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("not an integer")
        return int(value)
    if kind is ColumnType.DECIMAL:
        if isinstance(value, bool):
            raise ValueError("not a number")
        return Decimal(str(value))
    if kind is ColumnType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().casefold()
        if text in ("true", "false"):
            return text == "true"
        raise ValueError("true or false")
    if kind is ColumnType.DATE:
        return date.fromisoformat(str(value))
    if kind is ColumnType.DATETIME:
        moment = datetime.fromisoformat(str(value))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    text = str(value)
    if kind is ColumnType.ENUM:
        for allowed in column.values:
            if allowed.casefold() == text.strip().casefold():
                return allowed  # stored as declared
        raise ValueError(f"one of {', '.join(column.values)}")
    return text
