"""Keys that other rows decide: duplicates within the file, and references.

The ledger of keys seen in the file lives in a scratch SQLite file in the job's
work folder, so a file of any length keeps memory flat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

_LOOKUP_CHUNK = 900  # below every SQLite build's bound-parameter limit


def chunks(items: Sequence[str], size: int = _LOOKUP_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class KeyLedger:
    """The row where each key first appeared in the file.

    >>> ledger = KeyLedger(Path(":memory:"))
    >>> ledger.claim([("A", 2), ("B", 3)])
    {}
    >>> ledger.claim([("A", 9)])
    {'A': 2}
    """

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA cache_size=-16384")  # 16 MiB, whatever the file's length
        self._db.execute("DROP TABLE IF EXISTS seen")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID")

    def claim(self, first_in_batch: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Record keys with the row they first appear on in this batch; return the
        keys an earlier batch already had, with that earlier row."""
        earlier: dict[str, int] = {}
        keys = [key for key, _ in first_in_batch]
        for part in chunks(keys):
            marks = ",".join("?" * len(part))
            earlier.update(
                self._db.execute(f"SELECT key, row FROM seen WHERE key IN ({marks})", part)
            )
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR IGNORE INTO seen (key, row) VALUES (?, ?)", first_in_batch)
        self._db.execute("COMMIT")
        return earlier

    def close(self) -> None:
        self._db.close()
