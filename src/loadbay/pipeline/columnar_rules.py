"""Column and row rules checked a whole batch of rows at a time, with polars.

Why it exists: :class:`~loadbay.domain.rows.RowValidator` checks one row at a time in
Python (about 4 µs a row), which bounds how fast an import can go. :class:`ColumnarValidator`
decides the same thing for a batch of rows in one polars query: which rows pass every
column and row rule, and the values to store for those that do.

:class:`~loadbay.domain.rows.RowValidator` stays the reference. The expressions here are
written to give exactly its decisions and values; a rule they cannot reproduce exactly
(decimal, datetime and url columns, a ``pattern`` outside the subset that Python's ``re``
and polars' Rust regex read alike, integers beyond 64 bits, non-ASCII enum and boolean
cells) is left to the very converter it uses (:func:`~loadbay.domain.rules.compile_converter`),
called per value. No error messages are made here: the caller runs
``RowValidator.validate`` on the rows that fail to get them. ``tests/unit/test_columnar_rules.py``
checks the two against each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import polars as pl

from loadbay.domain import rules
from loadbay.domain.datasets import AtLeastOneOf, Column, ColumnType, Dataset
from loadbay.domain.rows import HeaderMap
from loadbay.domain.rules import Converter, RuleViolation, compile_converter

#: Every character for which ``str.isspace()`` holds, i.e. what ``str.strip()`` removes.
#: polars' own default (Rust's ``char::is_whitespace``) lacks U+001C to U+001F.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
OK = "ok"

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_DATE_SHAPE = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
_BOOLEAN_WORDS = [*sorted(rules._TRUE), *sorted(rules._FALSE)]  # the true ones first
_DTYPES: dict[ColumnType, pl.DataType] = {
    ColumnType.INTEGER: pl.Int64(),
    ColumnType.BOOLEAN: pl.Boolean(),
}
_STRING = pl.String()

# --- patterns both dialects read alike ---------------------------------------------------

#: Escaped, these are plain literals in both Python's ``re`` and Rust's ``regex``.
_ESCAPABLE = frozenset("\\.^$*+?()[]{}|-/")
_COUNTED = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")


def rust_fullmatch(pattern: str) -> str | None:
    """A polars regex that matches exactly the strings ``re.fullmatch(pattern, ...)`` does.

    Only a conservative subset is translated: literals, ``.``, escaped punctuation, classes
    of literals and ranges, groups (plain or ``(?:``), alternation, anchors and the
    quantifiers ``* + ? {m} {m,} {m,n}`` (greedy or lazy). Anything else (``\\d``, ``\\w``,
    ``\\s``, ``\\b``, flags, lookaround, backreferences, possessive quantifiers, ...) gives
    None, and so does a pattern polars fails to compile: the caller then uses Python.
    """
    if not _is_portable(pattern):
        return None
    translated = rf"\A(?:{pattern})\z"
    try:
        pl.Series([""]).str.contains(translated)
    except pl.exceptions.PolarsError:
        return None
    return translated


def _is_portable(pattern: str) -> bool:
    index, depth, quantifiable = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if pattern[index + 1 : index + 2] not in _ESCAPABLE:
                return False
            index, quantifiable = index + 2, True
        elif char == "[":
            index, quantifiable = _class_end(pattern, index), True
            if index < 0:
                return False
        elif char == "(":
            if pattern.startswith("(?:", index):
                index += 3
            elif pattern.startswith("(?", index):
                return False  # flags, lookaround, named groups, comments...
            else:
                index += 1
            depth, quantifiable = depth + 1, False
        elif char == ")":
            if depth == 0:
                return False
            index, depth, quantifiable = index + 1, depth - 1, True
        elif char in "*+?{":
            if not quantifiable:
                return False  # also rules out possessive quantifiers such as "a*+"
            index, quantifiable = _quantifier_end(pattern, index), False
            if index < 0:
                return False
        elif char in "]}":
            return False
        else:  # a literal, ".", "|", "^" or "$"
            index, quantifiable = index + 1, char not in "|^$"
    return depth == 0


def _quantifier_end(pattern: str, index: int) -> int:
    if pattern[index] == "{":
        counted = _COUNTED.match(pattern, index)
        if counted is None:
            return -1
        end = counted.end()
    else:
        end = index + 1
    return end + 1 if pattern.startswith("?", end) else end  # a lazy quantifier


def _class_end(pattern: str, start: int) -> int:
    """The index after the class opening at ``start``, or -1 when it is not portable."""
    index = start + 2 if pattern.startswith("[^", start) else start + 1
    first = index
    while index < len(pattern):
        char = pattern[index]
        if char == "]" and index > first:
            return index + 1
        if char in "[]" or pattern.startswith(("&&", "~~", "--"), index):
            return -1  # nested classes and Rust's set operations
        if char == "\\":
            if pattern[index + 1 : index + 2] not in _ESCAPABLE:
                return -1
            index += 2
        elif char == "-":
            if index != first and not pattern.startswith("-]", index):
                return -1  # only a literal "-" at either end; ranges are handled below
            index += 1
        elif pattern.startswith("-", index + 1) and not pattern.startswith("-]", index + 1):
            high = pattern[index + 2 : index + 3]
            if char in "&~" or high in ("", "\\", "[", "]", "&", "~", "-") or high < char:
                return -1
            index += 3
        else:
            index += 1
    return -1


_INTEGER = rust_fullmatch(rules._INTEGER.pattern)
_EMAIL = rust_fullmatch(rules._EMAIL.pattern)
_PHONE = rust_fullmatch(rules._PHONE.pattern)

# --- column rules as expressions -----------------------------------------------------------


@dataclass(frozen=True)
class _Vector:
    """A column rule on trimmed, non-empty cells: whether each passes and the value it gives.

    ``python`` marks cells the expressions cannot decide exactly; Python decides those.
    ``given`` are named columns computed first, for the others to share.
    """

    valid: pl.Expr
    value: pl.Expr
    python: pl.Expr | None = None
    given: tuple[pl.Expr, ...] = ()


_TypeRule = Callable[[Column, date, pl.Expr], _Vector | None]


def _text_checks(column: Column, text: pl.Expr) -> list[pl.Expr] | None:
    """Length and pattern rules (any column type); None when the pattern is not portable."""
    checks: list[pl.Expr] = []
    max_length = column.max_length
    if column.type is ColumnType.EMAIL and max_length is None:
        max_length = rules._MAX_EMAIL_LENGTH
    if max_length is not None:
        checks.append(text.str.len_chars() <= max_length)
    if column.min_length is not None:
        checks.append(text.str.len_chars() >= column.min_length)
    if column.pattern is not None:
        translated = rust_fullmatch(column.pattern)
        if translated is None:
            return None
        checks.append(text.str.contains(translated))
    return checks


def _matching(translated: str | None) -> _TypeRule:
    def rule(column: Column, today: date, text: pl.Expr) -> _Vector | None:
        if translated is None:
            return None
        return _Vector(text.str.contains(translated), text)

    return rule


def _plain(column: Column, today: date, text: pl.Expr) -> _Vector:
    return _Vector(pl.lit(True), text)


def _python(column: Column, today: date, text: pl.Expr) -> None:
    return None


def _integer(column: Column, today: date, text: pl.Expr) -> _Vector | None:
    if _INTEGER is None:
        return None
    shape = text.str.contains(_INTEGER)
    number = pl.col(f"#number:{column.key}")
    given = text.cast(pl.Int64, strict=False).alias(f"#number:{column.key}")  # null beyond 64 bits
    low = int(column.minimum) if column.minimum is not None else None
    high = int(column.maximum) if column.maximum is not None else None
    valid = shape & number.is_not_null() & _within(number, low, high)
    return _Vector(valid, number, shape & number.is_null(), (given,))


def _within(number: pl.Expr, low: int | None, high: int | None) -> pl.Expr:
    """``low <= number <= high`` for 64-bit numbers, with bounds of any size."""
    if (low is not None and low > _INT64_MAX) or (high is not None and high < _INT64_MIN):
        return pl.lit(False)
    within = pl.lit(True)
    if low is not None and low > _INT64_MIN:
        within = within & (number >= pl.lit(low, dtype=pl.Int64))
    if high is not None and high < _INT64_MAX:
        within = within & (number <= pl.lit(high, dtype=pl.Int64))
    return within


def _ascii(text: pl.Expr) -> pl.Expr:
    return text.str.len_bytes() == text.str.len_chars()


def _word(column: Column, text: pl.Expr, words: Sequence[str]) -> _Vector:
    """Which of ``words`` (lower case, distinct) each cell is, in any case: ``value`` is its
    index (null for none). Python decides non-ASCII cells: ``str.lower`` and polars could
    disagree on them (U+212A KELVIN SIGN lowers to "k", for one)."""
    name = f"#word:{column.key}"
    found = text.str.to_lowercase().cast(pl.Enum(words), strict=False).to_physical()
    ascii_ = pl.col(f"#ascii:{column.key}")
    given = (found.alias(name), _ascii(text).alias(ascii_.meta.output_name()))
    return _Vector(ascii_ & pl.col(name).is_not_null(), pl.col(name), ~ascii_, given)


def _boolean(column: Column, today: date, text: pl.Expr) -> _Vector:
    word = _word(column, text, _BOOLEAN_WORDS)
    return replace(word, value=word.value < len(rules._TRUE))


def _enum(column: Column, today: date, text: pl.Expr) -> _Vector:
    by_lower = {value.lower(): value for value in column.values}  # as rules.py builds it
    word = _word(column, text, list(by_lower))
    spelling = pl.lit(pl.Series(list(by_lower.values()), dtype=pl.String))
    return replace(word, value=spelling.gather(word.value))


def _date(column: Column, today: date, text: pl.Expr) -> _Vector:
    """Exactly ``YYYY-MM-DD`` in ASCII digits naming a real day from year 1, within bounds.

    In that fixed shape polars parses as ``date.fromisoformat`` does, except that it takes
    year 0; and text order is date order, so the year and the bounds compare as text.
    """
    valid = (
        text.str.contains(_DATE_SHAPE)
        & text.str.to_date("%Y-%m-%d", strict=False).is_not_null()
        & (text >= "0001-01-01")
    )
    low = rules._date_bound(column.minimum, today)
    high = rules._date_bound(column.maximum, today)
    if low is not None:
        valid = valid & (text >= low.isoformat())
    if high is not None:
        valid = valid & (text <= high.isoformat())
    return _Vector(valid, text)


_TYPE_RULES: dict[ColumnType, _TypeRule] = {
    ColumnType.STRING: _plain,
    ColumnType.INTEGER: _integer,
    ColumnType.DECIMAL: _python,
    ColumnType.BOOLEAN: _boolean,
    ColumnType.DATE: _date,
    ColumnType.DATETIME: _python,
    ColumnType.EMAIL: _matching(_EMAIL),
    ColumnType.PHONE: _matching(_PHONE),
    ColumnType.ENUM: _enum,
    ColumnType.URL: _python,
}


def vectorise(column: Column, today: date, text: pl.Expr) -> _Vector | None:
    """Every rule of ``column`` on ``text`` (trimmed, non-empty cells); None: Python only."""
    checks = _text_checks(column, text)
    typed = _TYPE_RULES[column.type](column, today, text)
    if checks is None or typed is None:
        return None
    valid = typed.valid
    for check in checks:
        valid = valid & check
    return replace(typed, valid=valid)


# --- the validator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """One output column: where its cells are, its converter, default and rules."""

    key: str
    position: int  # -1: the header lacks it (then it has a default)
    convert: Converter
    default: Any  # the converted default, or None
    required: bool
    dtype: pl.DataType  # pl.Object when a value may not fit a polars type
    vector: _Vector | None  # None: Python decides every non-empty cell

    def decide(self, cell: str) -> tuple[Any, bool]:
        """RowValidator's value and verdict for one cell of this column."""
        raw = cell.strip()
        if raw:
            try:
                return self.convert(raw), True
            except RuleViolation:
                return None, False
        if self.default is not None:
            return self.default, True
        return None, not self.required


@dataclass
class _Plan:
    """The query, in four steps: trim the cells; compute what several rules share (is the
    cell filled, ...); apply each column's rules once; combine them into the row verdict and
    the values. Then Python decides the cells of the ``python`` slots that the query marked
    in their ``#python:<key>`` columns."""

    trim: list[pl.Expr]
    given: list[pl.Expr]
    rules: list[pl.Expr]
    verdicts: list[pl.Expr]
    values: list[pl.Expr]
    python: list[_Slot]


def _trimmed(position: int) -> pl.Expr:
    return pl.col(f"#trimmed:{position}")


def _filled(position: int) -> pl.Expr:
    return pl.col(f"#filled:{position}")


def _python_mask(slot: _Slot) -> str:
    return f"#python:{slot.key}"


class ColumnarValidator:
    """Vectorised twin of RowValidator: same columns, same decisions, same values."""

    def __init__(self, dataset: Dataset, header: HeaderMap, today: date) -> None:
        present = [c for c in dataset.columns if c.key in header.positions]
        defaulted = [
            c for c in dataset.columns if c.key not in header.positions and c.default is not None
        ]
        self.columns: tuple[str, ...] = tuple(c.key for c in present + defaulted)
        if OK in self.columns:
            raise ValueError(f"a dataset column named {OK!r} would clash with the verdict column")
        self.updated_columns: tuple[str, ...] = tuple(c.key for c in present)
        self.key_index = self.columns.index(dataset.key)
        self._slots = tuple(
            _slot(c, header.positions.get(c.key, -1), today) for c in present + defaulted
        )
        row_rules = [
            [header.positions[k] for k in rule.columns if k in header.positions]
            for rule in dataset.row_rules
            if isinstance(rule, AtLeastOneOf)
        ]
        self._plan = _plan(self._slots, sorted(header.positions.values()), row_rules)

    @property
    def python_columns(self) -> tuple[str, ...]:
        """The columns whose every non-empty cell goes to the Python converter."""
        return tuple(s.key for s in self._slots if s.position >= 0 and s.vector is None)

    def check(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` has one pl.String column per header cell, named "c0", "c1", ...
        (raw cells, untrimmed, never null: an empty cell is ""), every row with the
        header's width. Returns a frame with the same number of rows and columns:
        "ok" (Boolean: the row passes every column rule and every row rule, i.e.
        RowValidator.validate would return no errors) and one column per entry of
        ``columns``, named by the column key, holding the value RowValidator would
        return for that column (null where it would return None)."""
        plan = self._plan
        result = (
            frame.with_columns(plan.trim)
            .with_columns(plan.given)
            .with_columns(plan.rules)
            .with_columns(
                pl.all_horizontal(plan.verdicts or [pl.lit(True)]).alias(OK), *plan.values
            )
        )
        return _settle(frame, result, plan.python).select(OK, *self.columns)


def _slot(column: Column, position: int, today: date) -> _Slot:
    convert = compile_converter(column, today)
    default = convert(column.default) if column.default is not None else None
    dtype = _DTYPES.get(column.type, _STRING)
    if isinstance(default, int) and not _INT64_MIN <= default <= _INT64_MAX:
        dtype = pl.Object()  # (bool is an int too, but always fits)
    vector = vectorise(column, today, _trimmed(position)) if position >= 0 else None
    return _Slot(column.key, position, convert, default, column.required, dtype, vector)


def _plan(slots: Sequence[_Slot], positions: list[int], row_rules: list[list[int]]) -> _Plan:
    plan = _Plan(
        trim=[
            pl.col(f"c{p}").str.strip_chars(WHITESPACE).alias(f"#trimmed:{p}") for p in positions
        ],
        given=[(_trimmed(p) != "").alias(f"#filled:{p}") for p in positions],
        rules=[],
        verdicts=[_at_least_one(positions) for positions in row_rules],
        values=[],
        python=[],
    )
    for slot in slots:
        _add_slot(plan, slot)
    return plan


def _add_slot(plan: _Plan, slot: _Slot) -> None:
    """The slot's rules, verdict and value, and whether Python may decide some cells."""
    mask = _python_mask(slot)
    if slot.dtype == pl.Object():  # Python decides every cell
        plan.values += [pl.lit(None).alias(slot.key), pl.lit(True).alias(mask)]
        plan.python.append(slot)
        return
    default = pl.lit(slot.default, dtype=slot.dtype)
    if slot.position < 0:
        plan.values.append(default.alias(slot.key))
        return
    filled = _filled(slot.position)
    valid, value = pl.col(f"#valid:{slot.key}"), pl.col(f"#value:{slot.key}")
    vector = slot.vector or _Vector(pl.lit(False), pl.lit(None, dtype=slot.dtype), pl.lit(True))
    plan.given += vector.given
    plan.rules += [
        vector.valid.alias(valid.meta.output_name()),
        vector.value.alias(value.meta.output_name()),
    ]
    passes = valid
    if vector.python is not None:
        plan.rules.append((filled & vector.python).alias(mask))
        plan.python.append(slot)
        passes = valid | pl.col(mask)
    empty_ok = slot.default is not None or not slot.required
    plan.verdicts.append(~filled | passes if empty_ok else filled & passes)
    plan.values.append(pl.when(~filled).then(default).when(valid).then(value).alias(slot.key))


def _at_least_one(positions: Sequence[int]) -> pl.Expr:
    if not positions:
        return pl.lit(False)
    return pl.any_horizontal(_filled(p) for p in positions)


def _settle(frame: pl.DataFrame, result: pl.DataFrame, slots: Sequence[_Slot]) -> pl.DataFrame:
    """Let Python decide the cells the expressions marked for it."""
    ok = result.get_column(OK)
    settled: list[pl.Series] = []
    for slot in slots:
        index = result.get_column(_python_mask(slot)).arg_true()
        if index.len() == 0:
            continue
        if slot.position >= 0:
            cells = frame.get_column(f"c{slot.position}").gather(index).to_list()
        else:
            cells = [""] * index.len()
        values, passes = _decide_all(slot, cells)
        ok = ok.scatter(index, ok.gather(index) & pl.Series(passes, dtype=pl.Boolean))
        settled.append(_scatter(result.get_column(slot.key), index, values))
    if not settled:
        return result
    return result.with_columns(ok, *settled)


def _decide_all(slot: _Slot, cells: list[str]) -> tuple[list[Any], list[bool]]:
    values: list[Any] = []
    passes: list[bool] = []
    for cell in cells:
        value, passed = slot.decide(cell)
        values.append(value)
        passes.append(passed)
    return values, passes


def _scatter(series: pl.Series, index: pl.Series, values: list[Any]) -> pl.Series:
    """``series`` with ``values`` at ``index``; integers beyond 64 bits make it an Object one."""
    if series.dtype not in (pl.Null, pl.Object) and not any(
        isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX for v in values
    ):
        return series.scatter(index, values)
    whole = series.to_list()
    for at, value in zip(index.to_list(), values, strict=True):
        whole[at] = value
    return pl.Series(series.name, whole, dtype=pl.Object)
