"""Client file names made safe to keep and show."""

from __future__ import annotations

import pytest

from loadbay.services.filenames import clean_file_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("users.csv", "users.csv"),
        ("my users (2).csv", "my users (2).csv"),
        ("José 李.csv", "José 李.csv"),
        # path traversal and directories: the last segment only
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("a/b/c/users.csv", "users.csv"),
        ("..\\..\\windows\\system32\\users.csv", "users.csv"),
        ("C:\\data\\u.csv", "u.csv"),
        ("C:\\data/mixed\\u.csv", "u.csv"),
        ("\\\\server\\share\\u.csv", "u.csv"),
        # control and format characters are removed
        ("../../etc/pa\x00sswd", "passwd"),
        ("us\x01er\x1fs\x7f.csv", "users.csv"),
        ("line\nbreak\r.csv", "linebreak.csv"),
        ("tab\there.csv", "tabhere.csv"),
        ("evil\u202ecsv.exe", "evilcsv.exe"),  # right-to-left override
        ("zero\u200bwidth.csv", "zerowidth.csv"),
        # surrounding spaces and dots
        ("  users.csv  ", "users.csv"),
        ("...hidden.csv", "hidden.csv"),
        ("users.csv.", "users.csv"),
    ],
)
def test_clean_file_name(name: str, expected: str) -> None:
    assert clean_file_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [None, "", "   ", ".", "..", "../..", "/", "dir/", "C:\\", "\x00\x01", "...", " / . "],
)
def test_nothing_left_gives_the_fallback(name: str | None) -> None:
    assert clean_file_name(name) == "upload.csv"
    assert clean_file_name(name, fallback="data.tsv") == "data.tsv"


def test_very_long_names_are_cut_to_255_characters() -> None:
    cleaned = clean_file_name("x" * 10_000 + ".csv")
    assert len(cleaned) == 255
    assert cleaned == "x" * 255


def test_a_255_character_name_is_kept() -> None:
    name = "y" * 251 + ".csv"
    assert clean_file_name(name) == name


def test_long_directories_do_not_count() -> None:
    assert clean_file_name("d" * 5000 + "/users.csv") == "users.csv"


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a\\b/../c", "\x00/\x00", "x" * 1000, "..\\..\\", "é/ü\u202e.csv"],
)
def test_result_never_holds_a_separator_or_control_character(name: str) -> None:
    cleaned = clean_file_name(name)
    assert "/" not in cleaned
    assert "\\" not in cleaned
    assert all(ch.isprintable() for ch in cleaned)
    assert cleaned not in ("", ".", "..")
    assert len(cleaned) <= 255
