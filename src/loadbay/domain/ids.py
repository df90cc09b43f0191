"""Job ids: ULIDs (Crockford base32, 26 characters), URL-safe and sortable by creation time.

Ids made by one process are strictly increasing even within one millisecond, so
"newest first" is exactly "largest id first".
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


class _MonotonicUlid:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            value = (time.time_ns() // 1_000_000) << _RANDOM_BITS | int.from_bytes(
                os.urandom(10), "big"
            )
            if value <= self._last:
                value = self._last + 1
            self._last = value
        return encode_ulid(value)


def encode_ulid(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_generator = _MonotonicUlid()


def new_id() -> str:
    """A new ULID, greater than every id this process made before."""
    return _generator.next()


def is_valid_id(text: str) -> bool:
    return len(text) == 26 and all(c in _ALPHABET for c in text)
