"""Client file names made safe to keep and show: never used in storage keys."""

from __future__ import annotations

import unicodedata

_MAX_LENGTH = 255


def clean_file_name(name: str | None, fallback: str = "upload.csv") -> str:
    """The last path segment, without control characters, at most 255 characters.

    >>> clean_file_name("../../etc/pa\\x00sswd"), clean_file_name("C:\\\\data\\\\u.csv")
    ('passwd', 'u.csv')
    """
    if not name:
        return fallback
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in last if unicodedata.category(c)[0] != "C").strip().strip(".")
    return kept[:_MAX_LENGTH] or fallback
