"""ColumnarValidator against its reference, RowValidator: same decisions, same values.

The heart is a differential test: seeded random rows (good values, edge cases and
garbage) for every built-in dataset and for a custom one with every column type and rule,
under several headers, checked by both validators row by row.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from loadbay.datasets.registry import builtin_datasets, parse_dataset
from loadbay.domain import rules
from loadbay.domain.datasets import Column, ColumnType, Dataset
from loadbay.domain.rows import RowValidator, resolve_header
from loadbay.domain.rules import RuleViolation, compile_converter
from loadbay.pipeline.columnar_rules import WHITESPACE, ColumnarValidator, rust_fullmatch

TODAY = date(2026, 11, 22)
ROWS = 3000

CUSTOM_YAML = r"""
name: kitchen_sink
title: Every rule
key: code
columns:
  - key: code
    label: Code
    required: true
    max_length: 12
    pattern: "[A-Z]{2}-[0-9]{3}(?:-[a-z]+)?"
  - key: tag
    label: Tag
    min_length: 2
    pattern: "\\w+(?<!_)"
  - key: name
    label: Name
    min_length: 3
    max_length: 10
  - key: count
    label: Count
    type: integer
    minimum: -5
    maximum: 1000
  - key: big
    label: Big
    type: integer
  - key: price
    label: Price
    type: decimal
    minimum: "0"
    maximum: "99999.99"
  - key: active
    label: Active
    type: boolean
    default: "yes"
  - key: born
    label: Born
    type: date
    minimum: "2000-01-01"
    maximum: today
  - key: seen_at
    label: Seen At
    type: datetime
  - key: site
    label: Site
    type: url
  - key: level
    label: Level
    type: enum
    values: [basic, Advanced, kiwi]
    default: basic
  - key: quantity
    label: Quantity
    type: integer
    default: "7"
  - key: contact_email
    label: Contact Email
    type: email
  - key: contact_phone
    label: Contact Phone
    type: phone
    max_length: 12
row_rules:
  - at_least_one_of: [contact_email, contact_phone]
  - at_least_one_of: [site, tag]
"""


def builtin(name: str) -> Dataset:
    return next(d for d in builtin_datasets() if d.name == name)


def custom() -> Dataset:
    return parse_dataset(CUSTOM_YAML, "kitchen_sink.yaml")


# --- generating cells ----------------------------------------------------------------

AROUND = [" ", "  ", "\t", "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f", "\x85", "\n"]
NOT_SPACE = ["\u200b", "\ufeff", "\u180e"]  # look blank, but str.strip() keeps them
GARBAGE = [
    "",
    " ",
    "\u00a0",
    "\u2003",
    " \u2003\t",
    "\x1c",
    "\u200b",
    "=1+2",
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "-2+3",
    "null",
    "ä",
    "٣",
    "\u212a",
    "İ",
    "a\nb",
    "x" * 300,
    "😀",
]
WORDS = ["Ada", "Ünal", "O'Brien", "Zoë", "李", "Nguyen", "x", "Müller-Lüdenscheidt", "a b"]
EMAILS_GOOD = [
    "user@example.com",
    "a@b.c",
    "USER+tag@sub.example.co.uk",
    "a.b@c.org",
    "x@" + "a" * 63 + ".com",
    "o'neil@x-y.io",
]
EMAILS_EDGE = [
    "a@b",
    "a..b@c.org",
    "ä@x.org",
    "a@-b.com",
    "a@b-.com",
    "a@b..com",
    "a@b.com.",
    "a @b.com",
    "x@" + "a" * 64 + ".com",
    "a" * 250 + "@b.co",
    "a" * 249 + "@b.co",
    "\u212a@x.org",
    "a@b.c\u0661",
    "@b.com",
    "a@@b.com",
]
PHONES_GOOD = ["+12345678", "+123456789012345", "+4915112345678", "+49151123456"]
PHONES_EDGE = [
    "+1234567890123456",
    "+1234567",
    "+١٢٣٤٥٦٧٨٩",
    "+１２３４５６７８９",  # noqa: RUF001
    "12345678",
    "++12345678",
    "+12 345 678",
    "+1234567\n8",
]
INTEGERS_EDGE = [
    "+5",
    "-0",
    "1_000",
    " 7 ",
    "٣",
    "007",
    "1e3",
    "1.0",
    "-5",
    "-6",
    "1000",
    "1001",
    "+",
    "--1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "-99999999999999999999999999",
    "0000000000000000000000000000042",
]
BOOLEANS = ["true", "yes", "y", "t", "1", "false", "no", "n", "f", "0"]
BOOLEANS_EDGE = ["2", "truee", "ｔｒｕｅ", "\u212a", "on", "off", "-1", "tru"]  # noqa: RUF001
DATES_EDGE = [
    "2024-02-29",
    "2023-02-29",
    "2026-1-05",
    "20261122",
    "2026-11-22",
    "2026-11-23",
    "1999-12-31",
    "2000-01-01",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "2026-W47-7",
    "2026-13-01",
    "2026-00-10",
    "2026-04-31",
    "2026-04-30",
    "1900-02-29",
    "2000-02-29",
    "٢٠٢٤-٠١-٠١",  # noqa: RUF001
    "2026-11-22T00:00",
    "2026/11/22",
    "+026-11-22",
    "2026-11-2 ",
]
DECIMALS = ["1.5", "-0", "0", "1e3", "1E+3", ".5", "5.", "1_0", "NaN", "inf", "0.00", "+1.10"]
DECIMALS += ["99999.99", "99999.991", "-0.01", "1e-7", "00012.3400", "١.٥", "1,5"]  # noqa: RUF001
DATETIMES = [
    "2026-11-22T06:00:00Z",
    "2026-11-22 06:00",
    "2026-11-22",
    "20261122T060000",
    "2026-11-22T06:00:00+05:30",
    "2026-11-22T06:00:00.123456",
    "2026-11-22T25:00",
    "yesterday",
]
URLS = ["http://x.org", "https://a.b/c?d=1#e", "ftp://x.org", "http://", "http:///x"]
URLS += ["http://[::1", "HTTP://X.ORG", "https://exämple.org", "example.org", "http://a b"]


def decorate(rng: random.Random, value: str) -> str:
    """Maybe whitespace (or look-alikes) around the value."""
    roll = rng.random()
    if roll < 0.75:
        return value
    if roll < 0.95:
        return rng.choice(AROUND) + value + rng.choice(["", *AROUND])
    return rng.choice(NOT_SPACE) + value


def random_case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


def random_date(rng: random.Random) -> str:
    return (date(1990, 1, 1) + timedelta(days=rng.randrange(11_000))).isoformat()


def text_value(rng: random.Random, column: Column) -> str:
    """Mostly valid text for the column (the pattern ones follow their pattern)."""
    if column.key == "tag":
        return rng.choice(["ab", "a1_b", "héllo", "٣٣", "ok_k"])
    if column.pattern is not None:
        letters = "".join(rng.choice("ABCXYZ") for _ in range(2))
        code = f"{letters}-{rng.randrange(1000):03d}"
        return code + rng.choice(["", "-ab"]) if column.max_length == 12 else code
    longest = column.max_length or 40
    if rng.random() < 0.1:
        return "é" * longest  # characters, not bytes, count
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    return words[:longest].strip().ljust(column.min_length or 0, "z")


def text_edge(rng: random.Random, column: Column) -> str:
    longest = column.max_length or 40
    edges = ["x" * (longest + 1), "😀" * longest, "y" * max((column.min_length or 1) - 1, 0)]
    edges += ["a b", "é", "A-", "ab-123", "AB-1234", "AB-123-", "AB-123-abcdefgh", "a_", "x"]
    edges += ["__", "ab cd", "a\nb"]
    return rng.choice(edges)


def good_value(rng: random.Random, column: Column) -> str:
    kind = column.type
    if kind is ColumnType.STRING:
        return text_value(rng, column)
    if kind is ColumnType.EMAIL:
        return rng.choice(EMAILS_GOOD)
    if kind is ColumnType.PHONE:
        return rng.choice([p for p in PHONES_GOOD if len(p) <= (column.max_length or 16)])
    if kind is ColumnType.DATE:
        return random_date(rng)
    if kind is ColumnType.ENUM:
        return random_case(rng, rng.choice(column.values))
    if kind is ColumnType.INTEGER:
        return str(rng.randint(-5, 1000))
    if kind is ColumnType.BOOLEAN:
        return random_case(rng, rng.choice(BOOLEANS))
    if kind is ColumnType.DECIMAL:
        return f"{rng.uniform(0, 99999):.{rng.randint(0, 3)}f}"
    if kind is ColumnType.DATETIME:
        return random_date(rng) + rng.choice(["T06:30:00", " 23:59", "T00:00:00Z", ""])
    return rng.choice(URLS[:2])


def edge_value(rng: random.Random, column: Column) -> str:
    kind = column.type
    pools: dict[ColumnType, list[str]] = {
        ColumnType.EMAIL: EMAILS_EDGE,
        ColumnType.PHONE: PHONES_EDGE,
        ColumnType.DATE: DATES_EDGE,
        ColumnType.INTEGER: INTEGERS_EDGE,
        ColumnType.BOOLEAN: BOOLEANS_EDGE,
        ColumnType.DECIMAL: DECIMALS,
        ColumnType.DATETIME: DATETIMES,
        ColumnType.URL: URLS,
    }
    if kind is ColumnType.ENUM:
        value = rng.choice(column.values)
        return rng.choice([value.upper(), value + "s", value.replace("k", "\u212a"), "İ" + value])
    if kind in pools:
        return rng.choice(pools[kind])
    return text_edge(rng, column)


def cell(rng: random.Random, column: Column | None, clean: bool) -> str:
    if column is None:
        return rng.choice(GARBAGE + WORDS)
    roll = rng.random()
    if clean:
        blank = roll > 0.9 and not column.required
        value = rng.choice(["", " "]) if blank else good_value(rng, column)
        return value if rng.random() < 0.9 else decorate(rng, value)
    if roll < 0.3:
        value = good_value(rng, column)
    elif roll < 0.75:
        value = edge_value(rng, column)
    else:
        value = rng.choice(GARBAGE)
    return decorate(rng, value)


def make_rows(dataset: Dataset, header: Sequence[str], count: int, seed: str) -> list[list[str]]:
    rng = random.Random(seed)
    positions = resolve_header(dataset, header).positions
    by_position = {p: dataset.column(k) for k, p in positions.items()}
    rows = []
    for _ in range(count):
        clean = rng.random() < 0.5
        rows.append([cell(rng, by_position.get(i), clean) for i in range(len(header))])
    return rows


def as_frame(rows: Sequence[Sequence[str]], width: int) -> pl.DataFrame:
    columns = {f"c{i}": [row[i] for row in rows] for i in range(width)}
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


# --- the differential check ----------------------------------------------------------


def typed(values: Sequence[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


def assert_same(dataset: Dataset, header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Both validators agree on every row; returns how many rows passed."""
    mapped = resolve_header(dataset, header)
    reference = RowValidator(dataset, mapped, TODAY)
    columnar = ColumnarValidator(dataset, mapped, TODAY)
    assert columnar.columns == reference.columns
    assert columnar.updated_columns == reference.updated_columns
    assert columnar.key_index == reference.key_index

    result = columnar.check(as_frame(rows, len(header)))
    assert result.columns == ["ok", *reference.columns]
    assert result.height == len(rows)
    passed = 0
    for row, (ok, *values) in zip(rows, result.rows(), strict=True):
        expected, errors = reference.validate(row)
        assert ok is (not errors), (row, errors)
        if ok:
            passed += 1
            assert typed(values) == typed(expected), row
    return passed


def shuffled_header(dataset: Dataset, seed: str) -> list[str]:
    """Keys or labels in any case and order, with unknown columns mixed in."""
    rng = random.Random(seed)
    cells = [random_case(rng, rng.choice([c.key, c.label])) for c in dataset.columns]
    cells += ["Notes", "=cmd()", "  Shoe Size "]
    rng.shuffle(cells)
    return cells


def partial_header(dataset: Dataset) -> list[str]:
    """The required columns and every other optional one: the others fall back to defaults."""
    optional = [c for c in dataset.columns if not c.required]
    kept = [c for c in dataset.columns if c.required] + optional[::2]
    return ["Extra", *reversed([c.label for c in kept])]


DATASETS: dict[str, Callable[[], Dataset]] = {
    "location": lambda: builtin("location"),
    "organisation": lambda: builtin("organisation"),
    "user": lambda: builtin("user"),
    "custom": custom,
}


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("layout", ["canonical", "shuffled", "partial"])
def test_columnar_and_row_validators_agree(name: str, layout: str) -> None:
    dataset = DATASETS[name]()
    if layout == "canonical":
        header = dataset.labels
    elif layout == "shuffled":
        header = shuffled_header(dataset, seed=name)
    else:
        header = partial_header(dataset)
    rows = make_rows(dataset, header, ROWS, seed=f"{name}/{layout}")
    passed = assert_same(dataset, header, rows)
    assert ROWS * 0.1 < passed < ROWS * 0.9, passed  # plenty of both kinds


def test_each_column_type_agrees_cell_by_cell() -> None:
    """Every value of every pool through each custom column alone (no row rules)."""
    dataset = custom()
    pool = [*GARBAGE, *EMAILS_GOOD, *EMAILS_EDGE, *PHONES_GOOD, *PHONES_EDGE, *INTEGERS_EDGE]
    pool += [*BOOLEANS, *BOOLEANS_EDGE, *DATES_EDGE, *DECIMALS, *DATETIMES, *URLS, *WORDS]
    pool += ["Basic", "ADVANCED", "KIWI", "\u212aiwi", "İkiwi", "kiw\u0131", "ab", "a_", "AB-123"]
    pool += ["AB-123-xyz", "ab-123", "AB-1234", "é" * 10, "é" * 11, "x" * 12, "x" * 13]
    pool += [w + "\u00a0" for w in pool[:40]] + ["\u2003" + w for w in pool[:40]]
    for column in dataset.columns:
        single = Dataset("one", "One", column.key, "one", (column,))
        assert_same(single, [column.label], [[value] for value in pool])


# --- pieces ---------------------------------------------------------------------------


def test_whitespace_is_exactly_what_str_strip_removes() -> None:
    assert set(WHITESPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    cells = [w + "a" + w for w in WHITESPACE] + ["\u200ba\u200b", "\ufeffa"]
    trimmed = pl.Series(cells).str.strip_chars(WHITESPACE).to_list()
    assert trimmed == [c.strip() for c in cells]


def test_builtin_datasets_and_common_types_are_fully_vectorised() -> None:
    for dataset in builtin_datasets():
        header = resolve_header(dataset, dataset.labels)
        assert ColumnarValidator(dataset, header, TODAY).python_columns == ()
    dataset = custom()
    header = resolve_header(dataset, dataset.labels)
    python = ColumnarValidator(dataset, header, TODAY).python_columns
    assert python == ("tag", "price", "seen_at", "site")


@pytest.mark.parametrize(
    ("pattern", "portable"),
    [
        ("[A-Za-z0-9_-]+", True),
        ("[A-Z]{2}-[0-9]{3}(?:-[a-z]+)?", True),
        (r"a\.b|c+?|(d)*|^x$", True),
        ("[^-a]{1,}", True),
        (rules._EMAIL.pattern, True),
        (r"\d+", False),
        (r"\w+", False),
        (r"\s", False),
        (r"\bx", False),
        ("(?i)abc", False),
        ("(?=a)a", False),
        ("(?<!a)b", False),
        (r"(a)\1", False),
        ("(?P<n>a)", False),
        ("a*+", False),
        ("a{,3}", False),
        ("a{x", False),
        ("[[:alpha:]]", False),
        ("[a&&b]", False),
        ("[a--b]", False),
        ("[a~~b]", False),
        ("[]a]", False),
        ("a]", False),
        ("[z-a]", False),
        ("a{99999999}", False),  # Python takes it; polars' regex refuses to compile it
    ],
)
def test_which_patterns_are_translated(pattern: str, portable: bool) -> None:
    assert (rust_fullmatch(pattern) is not None) is portable


PORTABLE_PATTERNS = [
    "[A-Za-z0-9_-]+",
    "[A-Z]{2}-[0-9]{3}(?:-[a-z]+)?",
    "a|ab|abc",
    "(a|b)*c?",
    "^a$|b",
    ".{2,3}",
    "[^a-c]+",
    "x[.*+?]y",
    r"\(\)\[\]\{\}\\\|",
    "é+ü?",
    "(?:a{2}){1,2}?",
    rules._EMAIL.pattern,
    rules._PHONE.pattern,
    rules._INTEGER.pattern,
]


@pytest.mark.parametrize("pattern", PORTABLE_PATTERNS)
def test_translated_patterns_match_what_python_fullmatches(pattern: str) -> None:
    rng = random.Random(pattern)
    alphabet = [*"abcxyzABZ019-_.@+*?()[]{}|\\^$ \néü٣\u212a", "ab", "a@b.c", "+1234"]
    texts = ["", *("".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(20_000))]
    texts += [*EMAILS_GOOD, *EMAILS_EDGE, *PHONES_GOOD, *PHONES_EDGE, *INTEGERS_EDGE]
    translated = rust_fullmatch(pattern)
    assert translated is not None
    compiled = re.compile(pattern)
    expected = [compiled.fullmatch(t) is not None for t in texts]
    assert pl.Series(texts).str.contains(translated).to_list() == expected


def test_every_date_shape_is_judged_as_python_does() -> None:
    column = Column("d", "D", ColumnType.DATE, minimum="0001-01-02", maximum="today")
    texts = [
        f"{y}-{m:02d}-{d:02d}"
        for y in ("0000", "0001", "1900", "2000", "2023", "2024", "2026", "9999")
        for m in range(14)
        for d in range(33)
    ]
    dataset = Dataset("one", "One", "d", "one", (column,))
    assert_same(dataset, ["d"], [[t] for t in texts])


def test_integers_beyond_64_bits_keep_python_ints() -> None:
    dataset = Dataset("one", "One", "n", "one", (Column("n", "N", ColumnType.INTEGER),))
    rows = [["1"], ["123456789012345678901234567890"], ["-9223372036854775809"], ["x"], [""]]
    assert assert_same(dataset, ["n"], rows) == 4


def test_row_rule_over_columns_the_header_lacks_fails_every_row() -> None:
    dataset = custom()
    header = ["Code", "Contact Email"]
    result = ColumnarValidator(dataset, resolve_header(dataset, header), TODAY).check(
        as_frame([["AB-123", "a@b.co"]], 2)
    )
    assert result.get_column("ok").to_list() == [False]
    assert assert_same(dataset, header, [["AB-123", "a@b.co"], ["", ""]]) == 0


def test_a_header_without_any_dataset_column() -> None:
    columns = (Column("k", "K", default="x"), Column("n", "N", ColumnType.INTEGER, default="3"))
    dataset = Dataset("one", "One", "k", "one", columns)
    assert assert_same(dataset, ["other"], [["a"], [""], [" "]]) == 3


def test_a_column_named_ok_is_refused() -> None:
    dataset = Dataset("one", "One", "ok", "one", (Column("ok", "OK"),))
    with pytest.raises(ValueError, match="clash"):
        ColumnarValidator(dataset, resolve_header(dataset, ["ok"]), TODAY)


def test_an_empty_batch() -> None:
    dataset = builtin("user")
    header = dataset.labels
    result = ColumnarValidator(dataset, resolve_header(dataset, header), TODAY).check(
        as_frame([], len(header))
    )
    assert result.height == 0
    assert result.columns[0] == "ok"


def test_converter_defaults_match_the_reference() -> None:
    dataset = custom()
    header = ["Code", "Contact Phone", "Site"]
    rows = [["AB-001", "+12345678", "http://x.org"]]
    assert assert_same(dataset, header, rows) == 1
    result = ColumnarValidator(dataset, resolve_header(dataset, header), TODAY).check(
        as_frame(rows, 3)
    )
    assert result.row(0, named=True) == {
        "ok": True,
        "code": "AB-001",
        "contact_phone": "+12345678",
        "site": "http://x.org",
        "active": True,
        "level": "basic",
        "quantity": 7,
    }
    for column in dataset.columns:  # the reference converts defaults the same way
        if column.default is not None:
            compile_converter(column, TODAY)(column.default)
    with pytest.raises(RuleViolation):
        compile_converter(Column("b", "B", ColumnType.BOOLEAN), TODAY)("maybe")


# --- speed (reported, not asserted) -----------------------------------------------------


def good_user_rows(count: int) -> list[list[str]]:
    rng = random.Random(7)
    roles = ["member", "org_admin", "content_creator", "reviewer"]
    return [
        [
            f"U{i:07d}",
            rng.choice(WORDS),
            rng.choice(WORDS),
            f"user{i}@example.com",
            f"+49151{i:08d}",
            random_date(rng),
            f"ORG{i % 50}",
            f"LOC{i % 90}",
            rng.choice(roles),
            rng.choice(["active", "inactive"]),
        ]
        for i in range(count)
    ]


def test_speed_on_good_user_rows() -> None:
    dataset = builtin("user")
    header = resolve_header(dataset, dataset.labels)
    rows = good_user_rows(20_000)
    frame = as_frame(rows, header.width)
    reference = RowValidator(dataset, header, TODAY)
    columnar = ColumnarValidator(dataset, header, TODAY)

    def best(run: Callable[[], object]) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times) / len(rows) * 1e6

    row_us = best(lambda: [reference.validate(row) for row in rows])
    batches = [frame.slice(at, 5_000) for at in range(0, frame.height, 5_000)]
    columnar_us = best(lambda: [columnar.check(batch) for batch in batches])
    whole_us = best(lambda: columnar.check(frame))
    assert columnar.check(frame).get_column("ok").all()
    print(
        f"\nuser, 20,000 good rows: RowValidator {row_us:.2f} µs/row; ColumnarValidator "
        f"{columnar_us:.2f} µs/row in batches of 5,000, {whole_us:.2f} µs/row in one batch"
    )
