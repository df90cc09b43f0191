"""The result file: formula escaping, row order, CRLF, exact round trip."""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from loadbay.pipeline.report import FAILURE, SUCCESS, ReportWriter, spreadsheet_safe
from loadbay.storage.memory import MemoryStore

# --- spreadsheet_safe ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\tplain", "'\tplain"),
        ("\r=1", "'\r=1"),
        ("=", "'="),
        ("+", "'+"),
        ("-", "'-"),
        ("@", "'@"),
        ("--", "'--"),
        ("-1-1", "'-1-1"),
        ("+44 20 1234 5678", "'+44 20 1234 5678"),
        ("-12.5abc", "'-12.5abc"),
        ("-0x1F", "'-0x1F"),
        ("-1e", "'-1e"),
        ("-\u0661\u0662", "'-\u0661\u0662"),  # not ASCII digits: not a plain number
        # plain numbers stay as they are
        ("-12.5", "-12.5"),
        ("+4412345678", "+4412345678"),
        ("1e5", "1e5"),
        ("-1e5", "-1e5"),
        ("+1E-5", "+1E-5"),
        ("-.5", "-.5"),
        ("-5.", "-5."),
        ("+0", "+0"),
        ("-0.000", "-0.000"),
        # values that do not start like a formula
        ("", ""),
        ("plain text", "plain text"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("bob@example.org", "bob@example.org"),
        ("12-5", "12-5"),
        ("é=", "é="),
    ],
)
def test_spreadsheet_safe(value: str, expected: str) -> None:
    assert spreadsheet_safe(value) == expected


# --- ReportWriter -------------------------------------------------------------------


def publish(writer: ReportWriter) -> bytes:
    store = MemoryStore("results")
    with store.open_write("jobs/1/result.csv") as out:
        writer.publish(out)
    assert store.exists("jobs/1/result.csv")
    return store.objects["jobs/1/result.csv"]


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True))


def test_header_is_labels_then_result_and_error(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["External ID", "First Name", "Nickname"])
    data = publish(writer)
    assert data == b"External ID,First Name,Nickname,Result,Error\r\n"


def test_a_header_label_that_looks_like_a_formula_is_escaped(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["=cmd()", "Email"])
    assert parse(publish(writer))[0] == ["'=cmd()", "Email", "Result", "Error"]


def test_successes_first_then_failures_each_in_the_order_added(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["ID", "Name"])
    writer.add_failures([(["F1", "a"], "ID: bad")])
    writer.add_successes([["S1", "b"], ["S2", "c"]])
    writer.add_failures([(["F2", "d"], "Name: bad"), (["F3", "e"], "ID: x; Name: y")])
    writer.add_successes([["S3", "f"]])
    rows = parse(publish(writer))
    assert rows == [
        ["ID", "Name", "Result", "Error"],
        ["S1", "b", SUCCESS, ""],
        ["S2", "c", SUCCESS, ""],
        ["S3", "f", SUCCESS, ""],
        ["F1", "a", FAILURE, "ID: bad"],
        ["F2", "d", FAILURE, "Name: bad"],
        ["F3", "e", FAILURE, "ID: x; Name: y"],
    ]
    assert (SUCCESS, FAILURE) == ("Success", "Failure")


def test_lines_end_with_crlf(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["A", "B"])
    writer.add_successes([["1", "2"], ["x,y", "=z"]])
    writer.add_failures([(["3", 'q"'], "A: bad")])
    data = publish(writer)
    assert data == (
        b'A,B,Result,Error\r\n1,2,Success,\r\n"x,y",\'=z,Success,\r\n3,"q""",Failure,A: bad\r\n'
    )


def test_crlf_even_for_cells_with_newlines(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["A"])
    writer.add_successes([["line 1\nline 2"], ["plain"]])
    data = publish(writer)
    assert data == b'A,Result,Error\r\n"line 1\nline 2",Success,\r\nplain,Success,\r\n'


def test_output_is_utf8(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["Name"])
    writer.add_successes([["José 李 🙂"]])
    data = publish(writer)
    assert "José 李 🙂".encode() in data
    assert not data.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("cells", "written"),
    [
        (["1"], ["1", "", ""]),
        ([], ["", "", ""]),
        (["1", "2", "3"], ["1", "2", "3"]),
        (["1", "2", "3", "4", "5"], ["1", "2", "3"]),
    ],
)
def test_ragged_failure_rows_fit_the_header(
    tmp_path: Path, cells: list[str], written: list[str]
) -> None:
    writer = ReportWriter(tmp_path, ["A", "B", "C"])
    writer.add_failures([(cells, "The row has a different number of values")])
    rows = parse(publish(writer))
    assert rows[1] == [*written, FAILURE, "The row has a different number of values"]
    assert all(len(row) == 5 for row in rows)


def test_formula_cells_are_escaped_in_rows(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path, ["A", "B", "C"])
    writer.add_successes([["=1+1", "-12.5", "@x"], ["+4412345678", "-x", "1e5"]])
    writer.add_failures([(["\tTAB", "\rCR", "ok"], "=error")])
    rows = parse(publish(writer))
    assert rows[1:] == [
        ["'=1+1", "-12.5", "'@x", SUCCESS, ""],
        ["+4412345678", "'-x", "1e5", SUCCESS, ""],
        ["'\tTAB", "'\rCR", "ok", FAILURE, "'=error"],
    ]


def test_publish_replaces_an_existing_object(tmp_path: Path) -> None:
    store = MemoryStore("results")
    with store.open_write("r.csv") as out:
        out.write(b"old content that is longer than the new one")
    writer = ReportWriter(tmp_path, ["A"])
    writer.add_successes([["1"]])
    with store.open_write("r.csv") as out:
        writer.publish(out)
        assert out.bytes_written == len(b"A,Result,Error\r\n1,Success,\r\n")
    assert store.objects["r.csv"] == b"A,Result,Error\r\n1,Success,\r\n"


# --- property: random cells round-trip exactly --------------------------------------

_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def expected_cell(value: str) -> str:
    """An oracle written from the contract, independent of the module under test."""
    starts_like_formula = value[:1] in ("=", "+", "-", "@", "\t", "\r")
    if starts_like_formula and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


PIECES = [
    "",
    "a",
    "plain",
    "Bob",
    " ",
    ",",
    '"',
    '""',
    "\n",
    "\r\n",
    "\r",
    "\t",
    "=",
    "=SUM(A1)",
    "+",
    "-",
    "@",
    "-12.5",
    "+4412345678",
    "1e5",
    "-1e5",
    "0",
    "'",
    ";",
    "é",
    "李",
    "🙂",
    "\u2028",
    "x,y",
    '"quoted"',
]


def random_cell(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))


def fit(cells: Sequence[str], width: int) -> list[str]:
    return [*cells[:width], *[""] * (width - len(cells))]


def test_random_rows_round_trip_through_csv(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    quoted_cells = escaped_cells = 0
    for trial in range(40):
        width = rng.randint(1, 6)
        labels = [random_cell(rng) or f"col{i}" for i in range(width)]
        folder = tmp_path / str(trial)
        folder.mkdir()
        writer = ReportWriter(folder, labels)
        successes: list[list[str]] = []
        failures: list[tuple[list[str], str]] = []
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.5:
                batch = [[random_cell(rng) for _ in range(width)] for _ in range(rng.randint(0, 8))]
                writer.add_successes(batch)
                successes.extend(batch)
            else:
                failed = [
                    (
                        [random_cell(rng) for _ in range(rng.randint(0, width + 2))],
                        random_cell(rng),
                    )
                    for _ in range(rng.randint(0, 8))
                ]
                writer.add_failures(failed)
                failures.extend(failed)
        rows = parse(publish(writer))

        expected = [
            [expected_cell(c) for c in (*labels, "Result", "Error")],
            *[[*map(expected_cell, cells), SUCCESS, ""] for cells in successes],
            *[
                [*map(expected_cell, fit(cells, width)), FAILURE, expected_cell(e)]
                for cells, e in failures
            ],
        ]
        assert rows == expected, f"trial {trial}"
        raw_rows = [[*c, SUCCESS, ""] for c in successes] + [
            [*fit(c, width), FAILURE, e] for c, e in failures
        ]
        quoted_cells += sum(any(ch in c for ch in ',"\r\n') for row in raw_rows for c in row)
        escaped_cells += sum(expected_cell(c) != c for row in raw_rows for c in row)
    # the sample exercises quoting and escaping on both the success and failure paths
    assert min(quoted_cells, escaped_cells) > 20
