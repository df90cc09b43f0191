"""Datasets: what a file of records is imported into — columns, rules, key and table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    EMAIL = "email"
    PHONE = "phone"
    ENUM = "enum"
    URL = "url"


@dataclass(frozen=True)
class Reference:
    """The value must be the key of a record of ``dataset`` (in the sink or earlier in the file)."""

    dataset: str


@dataclass(frozen=True)
class Column:
    """One column of a dataset and the rules its values follow.

    ``minimum``/``maximum`` bound numbers, dates and datetimes; a date bound may be
    the word ``today``. ``pattern_hint`` says in words what ``pattern`` expects.
    """

    key: str
    label: str
    type: ColumnType = ColumnType.STRING
    required: bool = False
    max_length: int | None = None
    min_length: int | None = None
    pattern: str | None = None
    pattern_hint: str | None = None
    minimum: str | None = None
    maximum: str | None = None
    values: tuple[str, ...] = ()
    default: str | None = None
    reference: Reference | None = None


@dataclass(frozen=True)
class AtLeastOneOf:
    """Row rule: at least one of these columns has a value."""

    columns: tuple[str, ...]


RowRule = AtLeastOneOf


@dataclass(frozen=True)
class Dataset:
    """A named set of columns with a unique ``key`` column, written to ``table``."""

    name: str
    title: str
    key: str
    table: str
    columns: tuple[Column, ...]
    row_rules: tuple[RowRule, ...] = field(default=())

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    @property
    def key_column(self) -> Column:
        return self.column(self.key)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]

    def labels_of(self, keys: Sequence[str]) -> list[str]:
        return [self.column(k).label for k in keys]
