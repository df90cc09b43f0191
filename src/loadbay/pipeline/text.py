"""Bytes to lines of text: encoding detection and decoding with bounded memory.

Supported: UTF-8 with or without BOM, UTF-16 (LE or BE) with BOM. Anything else,
or bytes that do not decode, make the file unreadable.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

from loadbay.domain.errors import MalformedCsv, UnreadableFile

_BOMS = (
    (codecs.BOM_UTF32_LE, None),
    (codecs.BOM_UTF32_BE, None),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHUNK_BYTES = 1 << 20


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


class DecodedLines:
    """The lines of a binary stream (split at ``\\n`` only, as csv expects).

    Bytes are read and decoded in large chunks so that the per-line cost stays in C.
    A line longer than ``max_chars`` stops the file, and so do bytes that do not
    decode or a NUL character (binary data, not text).
    """

    def __init__(
        self,
        binary: BinaryIO,
        max_chars: int,
        chunk_bytes: int = _CHUNK_BYTES,
        *,
        encoding: str | None = None,
        lines_before: int = 0,
    ):
        """``encoding`` and ``lines_before`` are for a part of a file that starts on a
        line boundary: its encoding is the file's (no BOM to read), and errors count
        lines from the start of the file."""
        self._binary = binary
        self._max_chars = max_chars
        self._chunk_bytes = chunk_bytes
        self.lines_before = lines_before
        self._head = binary.read(4)
        self.bytes_read = len(self._head)
        self.encoding = encoding or detect_encoding(self._head)

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self.chunks())

    def chunks(self) -> Iterator[list[str]]:
        """The lines in lists of about a megabyte each, in order."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        carry = ""
        lines_before = self.lines_before
        data = self._head
        while True:
            final = not data
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as error:
                where = lines_before + (carry + _prefix(data, error.start)).count("\n") + 1
                raise UnreadableFile(
                    f"Line {where} is not valid {self._encoding_name} text ({error.reason}): "
                    "save the file as UTF-8"
                ) from error
            if "\x00" in text:
                where = lines_before + (carry + text[: text.index("\x00")]).count("\n") + 1
                raise UnreadableFile(
                    f"Line {where} contains a NUL byte: the file is binary data, not CSV text"
                )
            parts = (carry + text).split("\n")
            carry = parts.pop()
            lines = [part + "\n" for part in parts]
            if final and carry:
                lines.append(carry)
                carry = ""
            _check_length([*lines, carry], lines_before, self._max_chars)
            lines_before += len(lines)
            if lines:
                yield lines
            if final:
                return
            data = self._binary.read(self._chunk_bytes)
            self.bytes_read += len(data)

    @property
    def _encoding_name(self) -> str:
        return {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "utf-16": "UTF-16"}[self.encoding]


def _prefix(data: bytes, end: int) -> str:
    return data[: max(end, 0)].decode("utf-8", errors="replace")


def _check_length(lines: list[str], lines_before: int, max_chars: int) -> None:
    if max(map(len, lines)) > max_chars:
        index = next(i for i, line in enumerate(lines) if len(line) > max_chars)
        raise MalformedCsv(
            f"Line {lines_before + index + 1} is longer than {max_chars} characters: this "
            "is not a CSV file of records, or a quote is never closed"
        )
