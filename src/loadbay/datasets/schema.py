"""The YAML dataset format, checked with pydantic and turned into domain datasets.

```yaml
name: course                 # lower-case identifier, unique
title: Courses
key: code                    # the unique column; upserts match on it
table: courses               # optional; default: the name
columns:
  - key: code
    label: Course Code       # what people see in templates and reports
    type: string             # string integer decimal boolean date datetime email phone enum url
    required: true
    max_length: 64
    pattern: "[A-Z0-9-]+"    # the whole value must match
    pattern_hint: capitals, digits or "-"
  - key: starts_on
    label: Start Date
    type: date
    minimum: "2020-01-01"    # numbers and dates; a date bound may be "today"
  - key: level
    label: Level
    type: enum
    values: [basic, advanced]  # case-insensitive, stored as written here
    default: basic
  - key: location_code
    label: Location Code
    reference: location      # must be the key of a location record
row_rules:
  - at_least_one_of: [email, phone]
```
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loadbay.domain.datasets import AtLeastOneOf, Column, ColumnType, Dataset, Reference
from loadbay.domain.rules import RuleViolation, compile_converter

_IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    key: str = Field(pattern=_IDENTIFIER)
    label: str = Field(min_length=1, max_length=200)
    type: ColumnType = ColumnType.STRING
    required: bool = False
    max_length: int | None = Field(default=None, ge=1)
    min_length: int | None = Field(default=None, ge=0)
    pattern: str | None = None
    pattern_hint: str | None = None
    minimum: str | int | float | None = None
    maximum: str | int | float | None = None
    values: list[str] = Field(default_factory=list)
    default: str | int | float | bool | None = None
    reference: str | None = Field(default=None, pattern=_IDENTIFIER)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern does not compile: {error}") from error
        return pattern

    @model_validator(mode="after")
    def _enum_has_values(self) -> ColumnSpec:
        if self.type is ColumnType.ENUM and not self.values:
            raise ValueError(f"column {self.key}: an enum needs values")
        if self.type is not ColumnType.ENUM and self.values:
            raise ValueError(f"column {self.key}: values are only for enum columns")
        return self

    def to_column(self) -> Column:
        def text(value: Any) -> str | None:
            if value is None:
                return None
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        return Column(
            key=self.key,
            label=self.label,
            type=self.type,
            required=self.required,
            max_length=self.max_length,
            min_length=self.min_length,
            pattern=self.pattern,
            pattern_hint=self.pattern_hint,
            minimum=text(self.minimum),
            maximum=text(self.maximum),
            values=tuple(self.values),
            default=text(self.default),
            reference=Reference(self.reference) if self.reference else None,
        )


class RowRuleSpec(_Strict):
    at_least_one_of: list[str] = Field(min_length=2)


class DatasetSpec(_Strict):
    name: str = Field(pattern=_IDENTIFIER)
    title: str = Field(min_length=1)
    key: str
    table: str | None = Field(default=None, pattern=_IDENTIFIER)
    columns: list[ColumnSpec] = Field(min_length=1)
    row_rules: list[RowRuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError("column keys must be unique")
        # A header cell is matched by key or label in any case, so no two columns
        # may answer to the same name.
        owners: dict[str, str] = {}
        for column in self.columns:
            for name in {column.key.casefold(), column.label.casefold()}:
                if owners.setdefault(name, column.key) != column.key:
                    raise ValueError(f"{name!r} names both {owners[name]!r} and {column.key!r}")
        if self.key not in keys:
            raise ValueError(f"key {self.key!r} is not one of the columns")
        for rule in self.row_rules:
            unknown = set(rule.at_least_one_of) - set(keys)
            if unknown:
                raise ValueError(f"row rule names unknown columns: {sorted(unknown)}")
        return self

    def to_dataset(self) -> Dataset:
        dataset = Dataset(
            name=self.name,
            title=self.title,
            key=self.key,
            table=self.table or self.name,
            columns=tuple(c.to_column() for c in self.columns),
            row_rules=tuple(AtLeastOneOf(tuple(r.at_least_one_of)) for r in self.row_rules),
        )
        _check_rules(dataset)
        return dataset


def _check_rules(dataset: Dataset) -> None:
    """Every column's rules must compile (bounds of its own type) and a default must pass
    them, or every import into the dataset would fail on it."""
    for column in dataset.columns:
        try:
            convert = compile_converter(column, date.today())
        except ValueError as error:
            raise ValueError(
                f"column {column.key}: minimum/maximum must be values of type "
                f"{column.type.value}: {error}"
            ) from error
        if column.default is None:
            continue
        try:
            convert(column.default)
        except (RuleViolation, ValueError) as error:
            raise ValueError(f"column {column.key}: default {column.default!r}: {error}") from error
