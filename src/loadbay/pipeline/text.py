"""Bytes to text: encoding detection and line reading with bounded memory.

Supported: UTF-8 with or without BOM, UTF-16 (LE or BE) with BOM. Anything else,
or bytes that do not decode, make the file unreadable.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
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


def bounded_lines(text: TextIO, max_chars: int) -> Iterator[str]:
    """The lines of ``text``; a line longer than ``max_chars`` stops the file, and so do
    bytes that do not decode or a NUL character (binary data, not text)."""
    number = 0
    while True:
        try:
            line = text.readline(max_chars + 1)
        except UnicodeDecodeError as error:
            raise UnreadableFile(
                f"Line {number + 1} is not valid {text.encoding} text ({error.reason}): "
                "save the file as UTF-8"
            ) from error
        if not line:
            return
        number += 1
        if len(line) > max_chars:
            raise MalformedCsv(
                f"Line {number} is longer than {max_chars} characters: this is not a CSV "
                "file of records, or a quote is never closed"
            )
        if "\x00" in line:
            raise UnreadableFile(
                f"Line {number} contains a NUL byte: the file is binary data, not CSV text"
            )
        yield line
