from __future__ import annotations

import codecs

import pytest

from loadbay.services.sniffing import UnsupportedFormat, check_text


@pytest.mark.parametrize(
    "head",
    [
        b"External ID,Name\r\nU1,Ann\r\n",
        codecs.BOM_UTF8 + "Zoë,李\n".encode(),
        codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"),  # NUL bytes, but UTF-16 text
        codecs.BOM_UTF16_BE + "a,b\n".encode("utf-16-be"),
        b"MZ Code,Name\n",  # looks like a DOS program's magic, but it is text
        b"",
    ],
)
def test_text_passes(head: bytes) -> None:
    check_text(head)


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        (b"PK\x03\x04rest", "ZIP"),
        (b"\x1f\x8b\x08", "gzip"),
        (b"%PDF-1.4", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Office"),
        (b"a,b\n\x00\x01\x02", "binary"),
    ],
)
def test_binary_formats_are_refused_by_name(head: bytes, said: str) -> None:
    with pytest.raises(UnsupportedFormat, match=said) as refused:
        check_text(head)
    assert refused.value.status == 415
