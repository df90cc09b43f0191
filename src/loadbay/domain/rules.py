"""Column rules compiled into fast per-value converters.

A converter takes a trimmed, non-empty cell and returns the value to store, or raises
:class:`RuleViolation` with a message that does not yet name the column. Integers and
booleans become ``int`` and ``bool``; decimals, dates and datetimes stay text in ISO
form, which every SQL database and HTTP sink takes as it is:

>>> convert = compile_converter(Column("age", "Age", ColumnType.INTEGER, minimum="0"), date.today())
>>> convert("42")
42
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

from loadbay.domain.datasets import Column, ColumnType

Converter = Callable[[str], Any]
_Ordered = TypeVar("_Ordered", int, Decimal, datetime)

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_PHONE = re.compile(r"\+[0-9]{8,15}")
_TRUE = frozenset({"true", "yes", "y", "t", "1"})
_FALSE = frozenset({"false", "no", "n", "f", "0"})
_MAX_EMAIL_LENGTH = 254


class RuleViolation(ValueError):
    """A value breaks a column rule; the message says what and what was expected."""


def quoted(value: str, limit: int = 60) -> str:
    """A value as error messages show it: in double quotes, long ones shortened."""
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return f'"{value}"'


def compile_converter(column: Column, today: date) -> Converter:
    """The converter for one column: type check, then its bounds, length and pattern."""
    typed = _TYPE_CONVERTERS[column.type](column, today)
    checks = _text_checks(column)
    if not checks:
        return typed
    if column.type is ColumnType.STRING and len(checks) == 1:
        return _checked_text(checks[0])

    def convert(raw: str) -> Any:
        for check in checks:
            check(raw)
        return typed(raw)

    return convert


def _checked_text(check: Callable[[str], None]) -> Converter:
    # The common case (text with one length or pattern rule) without a loop.
    def convert(raw: str) -> str:
        check(raw)
        return raw

    return convert


def _text_checks(column: Column) -> list[Callable[[str], None]]:
    checks: list[Callable[[str], None]] = []
    max_length = column.max_length
    if column.type is ColumnType.EMAIL and max_length is None:
        max_length = _MAX_EMAIL_LENGTH
    if max_length is not None:
        limit = max_length

        def check_max(raw: str) -> None:
            if len(raw) > limit:
                raise RuleViolation(f"is {len(raw)} characters long; at most {limit} are allowed")

        checks.append(check_max)
    if column.min_length is not None:
        floor = column.min_length

        def check_min(raw: str) -> None:
            if len(raw) < floor:
                raise RuleViolation(f"{quoted(raw)} is shorter than {floor} characters")

        checks.append(check_min)
    if column.pattern is not None:
        pattern = re.compile(column.pattern)
        hint = column.pattern_hint or f"a value matching {column.pattern}"

        def check_pattern(raw: str) -> None:
            if pattern.fullmatch(raw) is None:
                raise RuleViolation(f"{quoted(raw)} is not valid: expected {hint}")

        checks.append(check_pattern)
    return checks


def _string(column: Column, today: date) -> Converter:
    return str


def _integer(column: Column, today: date) -> Converter:
    low = int(column.minimum) if column.minimum is not None else None
    high = int(column.maximum) if column.maximum is not None else None

    def convert(raw: str) -> int:
        if _INTEGER.fullmatch(raw) is None:
            raise RuleViolation(f"{quoted(raw)} is not a whole number")
        return _bounded(int(raw), low, high, raw)

    return convert


def _decimal(column: Column, today: date) -> Converter:
    low = _decimal_bound(column.minimum)
    high = _decimal_bound(column.maximum)

    def convert(raw: str) -> str:
        if _DECIMAL.fullmatch(raw) is None:
            raise RuleViolation(f"{quoted(raw)} is not a number")
        try:
            value = Decimal(raw)
        except InvalidOperation as error:  # pragma: no cover - the pattern already rules it out
            raise RuleViolation(f"{quoted(raw)} is not a number") from error
        return str(_bounded(value, low, high, raw))

    return convert


def _decimal_bound(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as error:
        raise ValueError(f"{text!r} is not a number") from error


def _boolean(column: Column, today: date) -> Converter:
    def convert(raw: str) -> bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise RuleViolation(f"{quoted(raw)} is not true or false (expected true/false or yes/no)")

    return convert


def _date_bound(text: str | None, today: date) -> date | None:
    if text is None:
        return None
    return today if text == "today" else date.fromisoformat(text)


def _date(column: Column, today: date) -> Converter:
    low = _date_bound(column.minimum, today)
    high = _date_bound(column.maximum, today)

    def convert(raw: str) -> str:
        try:
            # fromisoformat alone also takes forms like 20261122 or 2026-W47-7.
            if len(raw) != 10 or raw[4] != "-" or raw[7] != "-" or not raw.isascii():
                raise ValueError(raw)
            value = date.fromisoformat(raw)
        except ValueError as error:
            raise RuleViolation(
                f"{quoted(raw)} is not a valid date (expected YYYY-MM-DD)"
            ) from error
        if high is not None and value > high:
            if high == today:
                raise RuleViolation(f"{quoted(raw)} is in the future")
            raise RuleViolation(f"{quoted(raw)} is after {high.isoformat()}")
        if low is not None and value < low:
            raise RuleViolation(f"{quoted(raw)} is before {low.isoformat()}")
        return raw  # already in canonical YYYY-MM-DD form

    return convert


def _datetime(column: Column, today: date) -> Converter:
    low = datetime.fromisoformat(column.minimum) if column.minimum else None
    high = datetime.fromisoformat(column.maximum) if column.maximum else None

    def convert(raw: str) -> str:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError as error:
            raise RuleViolation(
                f"{quoted(raw)} is not a valid date and time (expected ISO 8601, "
                "e.g. 2026-11-22T06:00:00Z)"
            ) from error
        try:
            return _bounded(value, low, high, raw).isoformat()
        except TypeError as error:
            raise RuleViolation(
                f"{quoted(raw)} cannot be compared with the allowed range (mixed time zones)"
            ) from error

    return convert


def _email(column: Column, today: date) -> Converter:
    def convert(raw: str) -> str:
        if _EMAIL.fullmatch(raw) is None:
            raise RuleViolation(f"{quoted(raw)} is not a valid email address")
        return raw

    return convert


def _phone(column: Column, today: date) -> Converter:
    def convert(raw: str) -> str:
        if _PHONE.fullmatch(raw) is None:
            raise RuleViolation(
                f"{quoted(raw)} is not a valid phone number (expected + then 8 to 15 digits)"
            )
        return raw

    return convert


def _enum(column: Column, today: date) -> Converter:
    by_lower = {value.lower(): value for value in column.values}
    listing = ", ".join(column.values)

    def convert(raw: str) -> str:
        value = by_lower.get(raw.lower())
        if value is None:
            raise RuleViolation(f"{quoted(raw)} is not one of {listing}")
        return value

    return convert


def _url(column: Column, today: date) -> Converter:
    def convert(raw: str) -> str:
        try:
            parts = urlsplit(raw)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise RuleViolation(f"{quoted(raw)} is not a valid http or https URL")
        return raw

    return convert


def _bounded(value: _Ordered, low: _Ordered | None, high: _Ordered | None, raw: str) -> _Ordered:
    if low is not None and value < low:
        raise RuleViolation(f"{quoted(raw)} is less than the minimum {low}")
    if high is not None and value > high:
        raise RuleViolation(f"{quoted(raw)} is more than the maximum {high}")
    return value


_TYPE_CONVERTERS: dict[ColumnType, Callable[[Column, date], Converter]] = {
    ColumnType.STRING: _string,
    ColumnType.INTEGER: _integer,
    ColumnType.DECIMAL: _decimal,
    ColumnType.BOOLEAN: _boolean,
    ColumnType.DATE: _date,
    ColumnType.DATETIME: _datetime,
    ColumnType.EMAIL: _email,
    ColumnType.PHONE: _phone,
    ColumnType.ENUM: _enum,
    ColumnType.URL: _url,
}
