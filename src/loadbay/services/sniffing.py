"""Refusing uploads whose content is plainly not CSV text, whatever their name says.

A file's first bytes tell most binary formats apart (their magic numbers); text has no
NUL bytes unless it is UTF-16/32, which starts with a byte order mark.
"""

from __future__ import annotations

import codecs

from loadbay.domain.errors import RequestError

HEAD_BYTES = 4096

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document"),
    (b"\x7fELF", "a program"),
)
_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


class UnsupportedFormat(RequestError):
    status = 415
    code = "unsupported_format"


def check_text(head: bytes) -> None:
    """Raise :class:`UnsupportedFormat` if ``head`` (a file's first bytes) is not text.

    >>> check_text(b"External ID,Name\\r\\n")
    """
    for magic, name in _MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormat(f"The file is {name}, not CSV text")
    if b"\x00" in head and not head.startswith(_WIDE_BOMS):
        raise UnsupportedFormat("The file is binary data, not CSV text")
