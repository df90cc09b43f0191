"""From an upload's header and cells to typed values and per-row errors.

:func:`resolve_header` maps header cells to dataset columns (by key or label, any
case); :class:`RowValidator` then checks every row against the column rules and the
row rules. References and duplicate keys need what other rows and the sink hold, so
the import pipeline checks them (see ``pipeline/importer.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from loadbay.domain.datasets import AtLeastOneOf, Dataset
from loadbay.domain.errors import DuplicateColumns, MissingColumns
from loadbay.domain.rules import RuleViolation, compile_converter


@dataclass(frozen=True)
class HeaderMap:
    """Which cell of each row holds which dataset column.

    ``labels`` is the report header: each uploaded column under its dataset label
    where it is one of the dataset's, else unchanged.
    """

    cells: tuple[str, ...]
    positions: dict[str, int]
    labels: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.cells)


def resolve_header(dataset: Dataset, cells: Sequence[str]) -> HeaderMap:
    """Map header cells to columns; missing required or doubly named columns fail the job."""
    lookup: dict[str, str] = {}
    for column in dataset.columns:
        lookup[column.key.casefold()] = column.key
        lookup[column.label.casefold()] = column.key
    positions: dict[str, int] = {}
    labels: list[str] = []
    for index, cell in enumerate(cells):
        key = lookup.get(cell.strip().casefold())
        if key is None:
            labels.append(cell)
            continue
        if key in positions:
            label = dataset.column(key).label
            raise DuplicateColumns(
                f"The header names the column {label} twice "
                f"(columns {positions[key] + 1} and {index + 1})"
            )
        positions[key] = index
        labels.append(dataset.column(key).label)
    missing = [c.label for c in dataset.columns if c.required and c.key not in positions]
    if missing:
        raise MissingColumns(
            "The header lacks required columns: " + ", ".join(missing),
        )
    return HeaderMap(tuple(cells), positions, tuple(labels))


class RowValidator:
    """Checks one row's cells and returns its typed values (one per ``columns``) and errors.

    ``columns`` holds the dataset columns the upload names, then those it omits that
    have a default; ``updated_columns`` are the ones an upsert may overwrite (the
    named ones: a column absent from the upload leaves stored values alone).
    """

    def __init__(self, dataset: Dataset, header: HeaderMap, today: date) -> None:
        self.dataset = dataset
        present = [c for c in dataset.columns if c.key in header.positions]
        defaulted = [
            c for c in dataset.columns if c.key not in header.positions and c.default is not None
        ]
        self.columns: tuple[str, ...] = tuple(c.key for c in present + defaulted)
        self.updated_columns: tuple[str, ...] = tuple(c.key for c in present)
        self.key_index = self.columns.index(dataset.key)
        # (cell position or -1 when the header lacks it, converter, default, required,
        # label): plain tuples, unpacked in the loop, are the fastest thing to iterate.
        self._slots = tuple(
            (
                header.positions.get(c.key, -1),
                compile_converter(c, today),
                compile_converter(c, today)(c.default) if c.default is not None else None,
                c.required,
                c.label,
            )
            for c in present + defaulted
        )
        self._row_rules = tuple(
            (
                [header.positions[k] for k in rule.columns if k in header.positions],
                " or ".join(dataset.labels_of(rule.columns)),
            )
            for rule in dataset.row_rules
            if isinstance(rule, AtLeastOneOf)
        )

    def validate(self, cells: Sequence[str]) -> tuple[list[Any], list[str]]:
        """Typed values (None where missing or invalid) and the row's errors, in column order."""
        values: list[Any] = []
        errors: list[str] = []
        append = values.append
        for position, convert, default, required, label in self._slots:
            raw = cells[position].strip() if position >= 0 else ""
            if raw:
                try:
                    append(convert(raw))
                except RuleViolation as violation:
                    append(None)
                    errors.append(f"{label}: {violation}")
            elif default is not None:
                append(default)
            else:
                append(None)
                if required:
                    errors.append(f"{label}: a value is required")
        for positions, labels in self._row_rules:
            if not any(cells[p].strip() for p in positions):
                errors.append(f"{labels}: at least one is required")
        return values, errors
