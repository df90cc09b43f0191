"""Bytes to CSV records: encodings, quoting, line endings, numbering, sniffing, limits."""

from __future__ import annotations

import codecs
import io

import pytest

from loadbay.domain.errors import EmptyFile, JobFailure, MalformedCsv, UnreadableFile
from loadbay.pipeline.records import CsvLimits, RecordReader, sniff_delimiter
from loadbay.pipeline.text import DecodedLines, detect_encoding

Records = list[tuple[int, list[str]]]


def reader(data: bytes, limits: CsvLimits | None = None) -> RecordReader:
    limits = limits or CsvLimits()
    return RecordReader(DecodedLines(io.BytesIO(data), limits.max_line_chars), limits)


def read(data: bytes, limits: CsvLimits | None = None) -> tuple[list[str], Records]:
    records = reader(data, limits)
    return records.header, list(records)


# --- encodings ----------------------------------------------------------------------

SAMPLE = "Name,City\nJosé,Zürich\n李,東京\n"
SAMPLE_RECORDS = [(2, ["José", "Zürich"]), (3, ["李", "東京"])]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(SAMPLE.encode("utf-8"), "utf-8", id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + SAMPLE.encode("utf-8"), "utf-8-sig", id="utf-8-bom"),
        pytest.param(
            codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le"), "utf-16", id="utf-16-le-bom"
        ),
        pytest.param(
            codecs.BOM_UTF16_BE + SAMPLE.encode("utf-16-be"), "utf-16", id="utf-16-be-bom"
        ),
    ],
)
def test_supported_encodings_read_the_same(data: bytes, encoding: str) -> None:
    lines = DecodedLines(io.BytesIO(data), CsvLimits().max_line_chars)
    assert lines.encoding == encoding
    records = RecordReader(lines, CsvLimits())
    assert records.header == ["Name", "City"]  # no BOM left on the first cell
    assert list(records) == SAMPLE_RECORDS


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(codecs.BOM_UTF32_LE + SAMPLE.encode("utf-32-le"), id="utf-32-le"),
        pytest.param(codecs.BOM_UTF32_BE + SAMPLE.encode("utf-32-be"), id="utf-32-be"),
    ],
)
def test_utf32_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableFile, match="UTF-32") as caught:
        read(data)
    assert caught.value.code == "unreadable_file"


def test_detect_encoding_defaults_to_utf8() -> None:
    assert detect_encoding(b"a,b\n") == "utf-8"
    assert detect_encoding(b"") == "utf-8"
    assert detect_encoding(codecs.BOM_UTF8 + b"a") == "utf-8-sig"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"a,b\n\xc3\x28,2\n", id="bad-continuation"),
        pytest.param(b"a,b\n\xff\xfe1,2\n", id="stray-bom-bytes"),
        pytest.param("a,b\nJosé,1\n".encode("latin-1"), id="latin-1"),
        pytest.param("a,b\nJosé,1\n".encode("cp1252"), id="cp1252"),
        pytest.param(b"a,b\n1,2\n\xe2\x82", id="truncated-at-end"),
        pytest.param(b"a,b\n" + b"1,2\n" * 300_000 + b"\x80,3\n", id="bad-byte-after-1mb"),
        pytest.param("a,b\n1,é\n".encode("utf-16-le"), id="utf-16-without-bom"),
    ],
)
def test_invalid_utf8_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableFile) as caught:
        read(data)
    assert caught.value.code == "unreadable_file"
    assert isinstance(caught.value, JobFailure)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"a,b\n1,\x002\n", id="nul-in-a-cell"),
        pytest.param(b"\x00a,b\n1,2\n", id="nul-first"),
        pytest.param(bytes(range(256)) * 100, id="all-bytes"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 10, id="png"),
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", id="zip-xlsx"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", id="pdf"),
    ],
)
def test_binary_data_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableFile):
        read(data)


def test_nul_byte_message_names_the_line() -> None:
    with pytest.raises(UnreadableFile, match="Line 3 contains a NUL byte"):
        read(b"a,b\n1,2\n3,\x00\n")


# --- quoting and line endings -------------------------------------------------------


def test_quoted_separators_and_escaped_quotes() -> None:
    header, records = read(b'a,b,c\n"x,y","say ""hi""",""\n')
    assert header == ["a", "b", "c"]
    assert records == [(2, ["x,y", 'say "hi"', ""])]


@pytest.mark.parametrize(
    ("data", "inner"),
    [
        pytest.param(b'a,b\n"line 1\nline 2",x\n3,4\n', "line 1\nline 2", id="lf"),
        pytest.param(b'a,b\r\n"line 1\r\nline 2",x\r\n3,4\r\n', "line 1\r\nline 2", id="crlf"),
        pytest.param(b'a,b\n"one\n\ntwo\n",x\n3,4\n', "one\n\ntwo\n", id="blank-inside"),
    ],
)
def test_embedded_newlines_inside_quotes(data: bytes, inner: str) -> None:
    _, records = read(data)
    assert records == [(2, [inner, "x"]), (3, ["3", "4"])]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"a,b\n1,2\n3,4\n", id="lf"),
        pytest.param(b"a,b\r\n1,2\r\n3,4\r\n", id="crlf"),
        pytest.param(b"a,b\r\n1,2\n3,4", id="mixed-no-final-newline"),
    ],
)
def test_line_endings(data: bytes) -> None:
    header, records = read(data)
    assert header == ["a", "b"]
    assert records == [(2, ["1", "2"]), (3, ["3", "4"])]


def test_header_cells_are_trimmed_data_cells_are_not() -> None:
    header, records = read(b" a , b\t\n 1 , 2 \n")
    assert header == ["a", "b"]
    assert records == [(2, [" 1 ", " 2 "])]


# --- record numbering ---------------------------------------------------------------


def test_header_is_record_1_and_data_starts_at_2() -> None:
    _, records = read(b"a\nx\ny\nz\n")
    assert records == [(2, ["x"]), (3, ["y"]), (4, ["z"])]


def test_numbering_after_a_record_with_embedded_newlines() -> None:
    _, records = read(b'a,b\n"1\n2\n3",x\nnext,y\n"p\r\nq",z\r\nlast,w\n')
    assert [number for number, _ in records] == [2, 3, 4, 5]
    assert records[1] == (3, ["next", "y"])
    assert records[3] == (5, ["last", "w"])


def test_blank_lines_are_not_records_but_keep_their_spreadsheet_row() -> None:
    # Blank lines are skipped, but rows keep the numbers a spreadsheet shows them with.
    header, records = read(b"\n\r\na,b\n\n1,2\r\n\r\n\n3,4\n\n")
    assert header == ["a", "b"]
    assert records == [(5, ["1", "2"]), (8, ["3", "4"])]


def test_ragged_rows_come_back_as_they_are() -> None:
    _, records = read(b"a,b,c\n1\n1,2\n1,2,3,4\n,,\n")
    assert records == [
        (2, ["1"]),
        (3, ["1", "2"]),
        (4, ["1", "2", "3", "4"]),
        (5, ["", "", ""]),
    ]


def test_a_header_only_file_has_no_records() -> None:
    header, records = read(b"a,b\n")
    assert header == ["a", "b"]
    assert records == []


# --- empty files --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\n\n\n", id="newlines"),
        pytest.param(b"\r\n\r\n", id="crlf-newlines"),
        pytest.param(codecs.BOM_UTF8, id="utf-8-bom-only"),
        pytest.param(codecs.BOM_UTF16_LE, id="utf-16-bom-only"),
    ],
)
def test_a_file_with_nothing_in_it_is_empty(data: bytes) -> None:
    with pytest.raises(EmptyFile) as caught:
        reader(data)
    assert caught.value.code == "empty_file"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"   ", id="spaces"),
        pytest.param(b"   \n  \n", id="space-lines"),
        pytest.param(b" \t \r\n\t\r\n", id="tabs-crlf"),
    ],
)
def test_a_whitespace_only_file_is_empty(data: bytes) -> None:
    with pytest.raises(EmptyFile):
        reader(data)


# --- delimiter sniffing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "delimiter", "header", "row"),
    [
        pytest.param(b"a,b,c\n1,2,3\n", ",", ["a", "b", "c"], ["1", "2", "3"], id="comma"),
        pytest.param(b"a;b;c\n1;2,5;3\n", ";", ["a", "b", "c"], ["1", "2,5", "3"], id="semicolon"),
        pytest.param(b"a\tb\tc\n1\t2 3\t,\n", "\t", ["a", "b", "c"], ["1", "2 3", ","], id="tab"),
        pytest.param(
            b'"x,y,z";b\n1;2\n', ";", ["x,y,z", "b"], ["1", "2"], id="commas-quoted-in-header"
        ),
    ],
)
def test_delimiter_is_sniffed_from_the_header(
    data: bytes, delimiter: str, header: list[str], row: list[str]
) -> None:
    records = reader(data)
    assert records.delimiter == delimiter
    assert records.header == header
    assert list(records) == [(2, row)]


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("a;b,c", ","),  # a tie goes to the comma
        ("a;b;c,d", ";"),
        ('"x,y,z";b', ";"),
        ('"1,2";"3,4";"5,6"', ";"),
        ("single", ","),
        ('"a\tb\tc",d', ","),
    ],
)
def test_sniff_delimiter(line: str, delimiter: str) -> None:
    assert sniff_delimiter(line + "\n") == delimiter


# --- malformed files and limits -----------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'a,b\n1,2\n"never closed,3\n4,5\n', id="unclosed-quote"),
        pytest.param(b'a,b\n1,2\n"', id="lone-quote-at-end"),
        pytest.param(b'a,b\n1,"x"y\n', id="text-after-closing-quote"),
    ],
)
def test_unclosed_or_broken_quotes_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedCsv) as caught:
        read(data)
    assert caught.value.code == "malformed_csv"
    assert caught.value.message.startswith("Line ")


def test_an_unclosed_quote_in_the_header_is_malformed() -> None:
    with pytest.raises(MalformedCsv):
        read(b'"a,b\n1,2\n')


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"a,b\n" + b"x" * TEN_MB + b"\n", id="data-line"),
        pytest.param(b"a,b\n1,2\n" + b"x" * TEN_MB, id="last-line-no-newline"),
        pytest.param(b"h" * TEN_MB + b"\n1\n", id="header-line"),
        pytest.param(b'a,b\n"' + b"x," * (TEN_MB // 2) + b"\n", id="quote-never-closed"),
    ],
)
def test_a_10mb_single_line_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedCsv) as caught:
        read(data)
    assert str(CsvLimits().max_line_chars) in caught.value.message


def test_a_line_at_the_line_limit_is_read() -> None:
    limits = CsvLimits(max_field_chars=2000, max_line_chars=1000)
    cell = "x" * 997  # with ",1\n" the line is exactly 1000 characters
    _, records = read(b"a,b\n" + cell.encode() + b",1\n", limits)
    assert records == [(2, [cell, "1"])]
    with pytest.raises(MalformedCsv):
        read(b"a,b\n" + cell.encode() + b",12\n", limits)


def test_a_field_over_max_field_chars_is_malformed() -> None:
    limits = CsvLimits(max_field_chars=100)
    _, records = read(b"a,b\n" + b"y" * 100 + b",1\n", limits)
    assert records == [(2, ["y" * 100, "1"])]
    with pytest.raises(MalformedCsv, match="Line 2"):
        read(b"a,b\n" + b"y" * 101 + b",1\n", limits)


def test_a_field_over_the_default_field_limit_is_malformed() -> None:
    limit = CsvLimits().max_field_chars
    # A quoted field spanning many short lines: no single line is too long.
    field = b"z" * 99 + b"\n"
    data = b'a,b\n"' + field * (limit // 100 + 1) + b'",1\n'
    with pytest.raises(MalformedCsv):
        read(data)


def test_too_many_header_columns_is_malformed() -> None:
    limits = CsvLimits(max_columns=10)
    header, _ = read(b",".join([b"c"] * 10) + b"\n1\n", limits)
    assert len(header) == 10
    with pytest.raises(MalformedCsv, match="11 columns"):
        read(b",".join([b"c"] * 11) + b"\n1\n", limits)


def test_default_column_limit() -> None:
    limit = CsvLimits().max_columns
    header, _ = read(b",".join([b"c"] * limit) + b"\n")
    assert len(header) == limit
    with pytest.raises(MalformedCsv):
        read(b",".join([b"c"] * (limit + 1)) + b"\n")


def test_a_malformed_record_after_good_ones_fails_while_iterating() -> None:
    records = iter(reader(b'a,b\n1,2\n3,4\n5,"6\n'))
    assert next(records) == (2, ["1", "2"])
    assert next(records) == (3, ["3", "4"])
    with pytest.raises(MalformedCsv):
        next(records)
