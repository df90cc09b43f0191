"""Column rules: every type, the length/pattern/bound rules and the exact error texts."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from loadbay.domain.datasets import Column, ColumnType
from loadbay.domain.rules import RuleViolation, compile_converter, quoted

TODAY = date(2026, 11, 22)


def column(type_: ColumnType = ColumnType.STRING, **rules: Any) -> Column:
    return Column("field", "Field", type_, **rules)


def convert(col: Column, raw: str) -> Any:
    return compile_converter(col, TODAY)(raw)


def violation(col: Column, raw: str) -> str:
    with pytest.raises(RuleViolation) as caught:
        compile_converter(col, TODAY)(raw)
    return str(caught.value)


# --- accepted values and what they become -------------------------------------------

ACCEPTED = [
    # string
    (column(), "anything at all", "anything at all"),
    (column(), "ünïcödé ✓", "ünïcödé ✓"),
    # integer: int, optional sign
    (column(ColumnType.INTEGER), "42", 42),
    (column(ColumnType.INTEGER), "-7", -7),
    (column(ColumnType.INTEGER), "+3", 3),
    (column(ColumnType.INTEGER), "007", 7),
    (column(ColumnType.INTEGER), "12345678901234567890", 12345678901234567890),
    (column(ColumnType.INTEGER, minimum="0", maximum="10"), "0", 0),
    (column(ColumnType.INTEGER, minimum="0", maximum="10"), "10", 10),
    # decimal: text, as Decimal spells it
    (column(ColumnType.DECIMAL), "12.50", "12.50"),
    (column(ColumnType.DECIMAL), "-0.5", "-0.5"),
    (column(ColumnType.DECIMAL), ".5", "0.5"),
    (column(ColumnType.DECIMAL), "3", "3"),
    (column(ColumnType.DECIMAL), "1e3", "1E+3"),
    (column(ColumnType.DECIMAL, minimum="0.5", maximum="1.5"), "1.5", "1.5"),
    (column(ColumnType.DECIMAL, minimum="0.5", maximum="1.5"), "0.50", "0.50"),
    # boolean: several spellings, any case
    (column(ColumnType.BOOLEAN), "true", True),
    (column(ColumnType.BOOLEAN), "TRUE", True),
    (column(ColumnType.BOOLEAN), "Yes", True),
    (column(ColumnType.BOOLEAN), "y", True),
    (column(ColumnType.BOOLEAN), "t", True),
    (column(ColumnType.BOOLEAN), "1", True),
    (column(ColumnType.BOOLEAN), "false", False),
    (column(ColumnType.BOOLEAN), "No", False),
    (column(ColumnType.BOOLEAN), "N", False),
    (column(ColumnType.BOOLEAN), "f", False),
    (column(ColumnType.BOOLEAN), "0", False),
    # date: YYYY-MM-DD only, kept as text
    (column(ColumnType.DATE), "2026-11-22", "2026-11-22"),
    (column(ColumnType.DATE), "2024-02-29", "2024-02-29"),
    (column(ColumnType.DATE, maximum="today"), "2026-11-22", "2026-11-22"),
    (column(ColumnType.DATE, minimum="today"), "2026-11-22", "2026-11-22"),
    (column(ColumnType.DATE, minimum="2020-01-01"), "2020-01-01", "2020-01-01"),
    # datetime: ISO 8601, written back in isoformat
    (column(ColumnType.DATETIME), "2026-11-22T06:00:00Z", "2026-11-22T06:00:00+00:00"),
    (column(ColumnType.DATETIME), "2026-11-22T06:00:00+05:30", "2026-11-22T06:00:00+05:30"),
    (column(ColumnType.DATETIME), "2026-11-22 06:00", "2026-11-22T06:00:00"),
    (
        column(ColumnType.DATETIME, minimum="2026-01-01T00:00:00"),
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00",
    ),
    # email
    (column(ColumnType.EMAIL), "bob@example.org", "bob@example.org"),
    (
        column(ColumnType.EMAIL),
        "first.last+tag@mail.example.co.uk",
        "first.last+tag@mail.example.co.uk",
    ),
    (column(ColumnType.EMAIL), "o'neil@x-y.example", "o'neil@x-y.example"),
    # phone: + then 8 to 15 digits
    (column(ColumnType.PHONE), "+12345678", "+12345678"),
    (column(ColumnType.PHONE), "+123456789012345", "+123456789012345"),
    (column(ColumnType.PHONE), "+4412345678", "+4412345678"),
    # enum: case-insensitive, stored as declared
    (column(ColumnType.ENUM, values=("active", "inactive")), "active", "active"),
    (column(ColumnType.ENUM, values=("active", "inactive")), "INACTIVE", "inactive"),
    (column(ColumnType.ENUM, values=("Basic", "Advanced")), "basic", "Basic"),
    (column(ColumnType.ENUM, values=("Basic", "Advanced")), "aDvAnCeD", "Advanced"),
    # url: http or https with a host
    (column(ColumnType.URL), "https://example.org/a?b=c#d", "https://example.org/a?b=c#d"),
    (column(ColumnType.URL), "http://localhost:8000", "http://localhost:8000"),
    (column(ColumnType.URL), "HTTPS://EXAMPLE.ORG", "HTTPS://EXAMPLE.ORG"),
]


@pytest.mark.parametrize(("col", "raw", "expected"), ACCEPTED)
def test_accepted_values_convert(col: Column, raw: str, expected: Any) -> None:
    result = convert(col, raw)
    assert result == expected
    assert type(result) is type(expected)


# --- rejected values and the exact message ------------------------------------------

REJECTED = [
    # integer
    (column(ColumnType.INTEGER), "4.0", '"4.0" is not a whole number'),
    (column(ColumnType.INTEGER), "1e3", '"1e3" is not a whole number'),
    (column(ColumnType.INTEGER), "twelve", '"twelve" is not a whole number'),
    (column(ColumnType.INTEGER), "1 000", '"1 000" is not a whole number'),
    (column(ColumnType.INTEGER), "\u0664\u0662", '"\u0664\u0662" is not a whole number'),
    (column(ColumnType.INTEGER), "-", '"-" is not a whole number'),
    (column(ColumnType.INTEGER, minimum="0"), "-1", '"-1" is less than the minimum 0'),
    (column(ColumnType.INTEGER, maximum="10"), "11", '"11" is more than the maximum 10'),
    # decimal
    (column(ColumnType.DECIMAL), "1,5", '"1,5" is not a number'),
    (column(ColumnType.DECIMAL), "NaN", '"NaN" is not a number'),
    (column(ColumnType.DECIMAL), "Infinity", '"Infinity" is not a number'),
    (column(ColumnType.DECIMAL), "abc", '"abc" is not a number'),
    (column(ColumnType.DECIMAL), ".", '"." is not a number'),
    (column(ColumnType.DECIMAL, minimum="0.5"), "0.49", '"0.49" is less than the minimum 0.5'),
    (column(ColumnType.DECIMAL, maximum="1.5"), "1.51", '"1.51" is more than the maximum 1.5'),
    # boolean
    (
        column(ColumnType.BOOLEAN),
        "maybe",
        '"maybe" is not true or false (expected true/false or yes/no)',
    ),
    (
        column(ColumnType.BOOLEAN),
        "2",
        '"2" is not true or false (expected true/false or yes/no)',
    ),
    # date
    *[
        (column(ColumnType.DATE), raw, f'"{raw}" is not a valid date (expected YYYY-MM-DD)')
        for raw in (
            "2026-02-30",
            "2025-02-29",
            "20261122",
            "2026-W47-7",
            "22/11/2026",
            "2026-1-5",
            "2026-11-22T06:00",
            "\uff12\uff10\uff12\uff16-11-22",
            "yesterday",
        )
    ],
    (column(ColumnType.DATE, maximum="today"), "2026-11-23", '"2026-11-23" is in the future'),
    (column(ColumnType.DATE, minimum="today"), "2026-11-21", '"2026-11-21" is before 2026-11-22'),
    (
        column(ColumnType.DATE, minimum="2020-01-01"),
        "2019-12-31",
        '"2019-12-31" is before 2020-01-01',
    ),
    (
        column(ColumnType.DATE, maximum="2030-12-31"),
        "2031-01-01",
        '"2031-01-01" is after 2030-12-31',
    ),
    # datetime
    (
        column(ColumnType.DATETIME),
        "yesterday at noon",
        '"yesterday at noon" is not a valid date and time (expected ISO 8601, '
        "e.g. 2026-11-22T06:00:00Z)",
    ),
    (
        column(ColumnType.DATETIME),
        "2026-11-22T25:00:00",
        '"2026-11-22T25:00:00" is not a valid date and time (expected ISO 8601, '
        "e.g. 2026-11-22T06:00:00Z)",
    ),
    (
        column(ColumnType.DATETIME, minimum="2026-01-01T00:00:00"),
        "2025-12-31T23:59:59",
        '"2025-12-31T23:59:59" is less than the minimum 2026-01-01 00:00:00',
    ),
    (
        column(ColumnType.DATETIME, maximum="2026-01-01T00:00:00+00:00"),
        "2026-01-01T00:00:01Z",
        '"2026-01-01T00:00:01Z" is more than the maximum 2026-01-01 00:00:00+00:00',
    ),
    (
        column(ColumnType.DATETIME, minimum="2026-01-01T00:00:00"),
        "2026-06-01T00:00:00Z",
        '"2026-06-01T00:00:00Z" cannot be compared with the allowed range (mixed time zones)',
    ),
    # email
    *[
        (column(ColumnType.EMAIL), raw, f'"{raw}" is not a valid email address')
        for raw in (
            "bob@",
            "@example.org",
            "bob",
            "bob@example",
            "bob@@example.org",
            "bob smith@example.org",
            "bob@exa mple.org",
            "bob@-example.org",
            "bob@example.org.",
        )
    ],
    # phone
    *[
        (
            column(ColumnType.PHONE),
            raw,
            f'"{raw}" is not a valid phone number (expected + then 8 to 15 digits)',
        )
        for raw in (
            "+1234567",
            "+1234567890123456",
            "12345678",
            "+44 20 1234 5678",
            "+44-20-1234-5678",
            "++12345678",
            "+",
        )
    ],
    # enum
    (
        column(ColumnType.ENUM, values=("state", "district", "block", "cluster")),
        "village",
        '"village" is not one of state, district, block, cluster',
    ),
    (
        column(ColumnType.ENUM, values=("active", "inactive")),
        "activ",
        '"activ" is not one of active, inactive',
    ),
    # url
    *[
        (column(ColumnType.URL), raw, f'"{raw}" is not a valid http or https URL')
        for raw in (
            "example.org",
            "ftp://example.org/file",
            "http://",
            "https:///path",
            "javascript:alert(1)",
            "http://[::1",
            "mailto:bob@example.org",
        )
    ],
]


@pytest.mark.parametrize(("col", "raw", "message"), REJECTED)
def test_rejected_values_say_what_and_what_was_expected(
    col: Column, raw: str, message: str
) -> None:
    assert violation(col, raw) == message


def test_rule_violation_is_a_value_error() -> None:
    assert issubclass(RuleViolation, ValueError)


# --- length and pattern rules -------------------------------------------------------

TEXT_RULES = [
    (column(max_length=5), "abcdef", "is 6 characters long; at most 5 are allowed"),
    (column(min_length=3), "ab", '"ab" is shorter than 3 characters'),
    (
        column(pattern="[A-Za-z0-9_-]+", pattern_hint='letters, digits, "_" or "-"'),
        "a b",
        '"a b" is not valid: expected letters, digits, "_" or "-"',
    ),
    (column(pattern="[A-Z]+"), "ABc", '"ABc" is not valid: expected a value matching [A-Z]+'),
    # the pattern must match the whole value, not a part of it
    (column(pattern="[0-9]+"), "12a", '"12a" is not valid: expected a value matching [0-9]+'),
    (column(pattern="[0-9]+"), "a12", '"a12" is not valid: expected a value matching [0-9]+'),
    # several rules: the first broken one is reported
    (
        column(max_length=4, min_length=2, pattern="[a-z]+"),
        "abcde",
        "is 5 characters long; at most 4 are allowed",
    ),
    (column(max_length=4, min_length=2, pattern="[a-z]+"), "a", '"a" is shorter than 2 characters'),
    (
        column(max_length=4, min_length=2, pattern="[a-z]+"),
        "ab1",
        '"ab1" is not valid: expected a value matching [a-z]+',
    ),
    # an email address is at most 254 characters even without max_length
    (
        column(ColumnType.EMAIL),
        "a" * 243 + "@example.org",
        "is 255 characters long; at most 254 are allowed",
    ),
    (
        column(ColumnType.EMAIL, max_length=20),
        "bobby.tables@example.org",
        "is 24 characters long; at most 20 are allowed",
    ),
    # length rules apply before the type check
    (
        column(ColumnType.INTEGER, max_length=3),
        "1234",
        "is 4 characters long; at most 3 are allowed",
    ),
    (
        column(ColumnType.INTEGER, pattern="[0-9]{4}"),
        "123",
        '"123" is not valid: expected a value matching [0-9]{4}',
    ),
]


@pytest.mark.parametrize(("col", "raw", "message"), TEXT_RULES)
def test_length_and_pattern_rules(col: Column, raw: str, message: str) -> None:
    assert violation(col, raw) == message


@pytest.mark.parametrize(
    ("col", "raw", "expected"),
    [
        (column(max_length=5), "abcde", "abcde"),
        (column(min_length=3), "abc", "abc"),
        (column(max_length=4, min_length=2, pattern="[a-z]+"), "abcd", "abcd"),
        (column(pattern="[A-Za-z0-9_-]+"), "Loc_1-a", "Loc_1-a"),
        (column(ColumnType.EMAIL), "a" * 242 + "@example.org", "a" * 242 + "@example.org"),
        (column(ColumnType.INTEGER, max_length=3), "123", 123),
        (column(ColumnType.ENUM, values=("a", "b"), max_length=1), "B", "b"),
    ],
)
def test_values_within_length_and_pattern_rules_pass(col: Column, raw: str, expected: Any) -> None:
    assert convert(col, raw) == expected


def test_type_check_still_runs_after_passing_text_rules() -> None:
    col = column(ColumnType.INTEGER, max_length=3)
    assert violation(col, "abc") == '"abc" is not a whole number'
    col = column(ColumnType.EMAIL, pattern=".*@example[.]org")
    assert violation(col, "@example.org") == '"@example.org" is not a valid email address'
    assert violation(col, "bob@other.org") == (
        '"bob@other.org" is not valid: expected a value matching .*@example[.]org'
    )


def test_future_date_uses_the_given_today() -> None:
    col = column(ColumnType.DATE, maximum="today")
    assert compile_converter(col, date(2030, 1, 1))("2029-12-31") == "2029-12-31"
    with pytest.raises(RuleViolation, match="in the future"):
        compile_converter(col, date(2029, 12, 30))("2029-12-31")


def test_long_values_are_shortened_in_messages() -> None:
    raw = "x" * 100
    message = violation(column(ColumnType.EMAIL), raw)
    assert message == f'"{"x" * 59}…" is not a valid email address'
    assert quoted("short") == '"short"'
    assert quoted("y" * 60) == f'"{"y" * 60}"'
    assert quoted("y" * 61) == f'"{"y" * 59}…"'


def test_every_column_type_has_a_converter() -> None:
    samples = {
        ColumnType.STRING: "x",
        ColumnType.INTEGER: "1",
        ColumnType.DECIMAL: "1.5",
        ColumnType.BOOLEAN: "yes",
        ColumnType.DATE: "2026-01-01",
        ColumnType.DATETIME: "2026-01-01T00:00:00",
        ColumnType.EMAIL: "a@b.org",
        ColumnType.PHONE: "+123456789",
        ColumnType.ENUM: "x",
        ColumnType.URL: "http://x.org",
    }
    assert set(samples) == set(ColumnType)
    for type_, raw in samples.items():
        values = ("x",) if type_ is ColumnType.ENUM else ()
        assert convert(column(type_, values=values), raw) is not None
