"""Bytes to text: encoding detection and line reading with bounded memory.

Supported: UTF-8 with or without BOM, UTF-16 (LE or BE) with BOM. Anything else,
or bytes that do not decode, make the file unreadable.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO, TextIO

from loadbay.domain.errors import MalformedCsv, UnreadableFile

_BOMS = (
    (codecs.BOM_UTF32_LE, None),
    (codecs.BOM_UTF32_BE, None),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(head: bytes) -> str:
    """The encoding of a file that starts with ``head`` (at least its first 4 bytes)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if encoding is None:
                raise UnreadableFile(
                    "The file is UTF-32, which is not supported: save it as UTF-8 or UTF-16"
                )
            return encoding
    return "utf-8"


def open_text(binary: BinaryIO) -> tuple[TextIO, str]:
    """A text stream over ``binary`` (seekable) in its detected encoding, newlines kept for csv."""
    head = binary.read(4)
    encoding = detect_encoding(head)
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")
    return text, encoding


def bounded_lines(text: TextIO, max_chars: int, chunk_chars: int = 1 << 20) -> Iterator[str]:
    """The lines of ``text`` (split at ``\\n`` only, as csv expects), read in large chunks
    so that the per-line cost stays in C. A line longer than ``max_chars`` stops the
    file, and so do bytes that do not decode or a NUL character (binary data)."""
    return chain.from_iterable(_line_batches(text, max_chars, chunk_chars))


def _line_batches(text: TextIO, max_chars: int, chunk_chars: int) -> Iterator[list[str]]:
    carry = ""
    lines_before = 0
    while True:
        try:
            chunk = text.read(chunk_chars)
        except UnicodeDecodeError as error:
            raise UnreadableFile(
                f"The file is not valid {text.encoding} text after line {lines_before} "
                f"({error.reason}): save it as UTF-8"
            ) from error
        if "\x00" in chunk:
            line = lines_before + (carry + chunk[: chunk.index("\x00")]).count("\n") + 1
            raise UnreadableFile(
                f"Line {line} contains a NUL byte: the file is binary data, not CSV text"
            )
        if not chunk:
            if carry:
                _check_length([carry], lines_before, max_chars)
                yield [carry]
            return
        parts = (carry + chunk).split("\n")
        carry = parts.pop()
        lines = [part + "\n" for part in parts]
        _check_length([*lines, carry], lines_before, max_chars)
        lines_before += len(lines)
        yield lines


def _check_length(lines: list[str], lines_before: int, max_chars: int) -> None:
    if max(map(len, lines)) > max_chars:
        index = next(i for i, line in enumerate(lines) if len(line) > max_chars)
        raise MalformedCsv(
            f"Line {lines_before + index + 1} is longer than {max_chars} characters: this "
            "is not a CSV file of records, or a quote is never closed"
        )
