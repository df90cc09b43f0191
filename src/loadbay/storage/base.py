"""The Store protocol that every storage backend implements.

>>> from loadbay.storage.memory import MemoryStore
>>> store = MemoryStore("box")
>>> with store.open_write("a/b.csv") as writer:
...     writer.write(b"hello")
>>> store.size("a/b.csv")
5
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredRef:
    """Where one object lives: ``storage`` type (``file``, ``s3``...), container and key.

    The service database keeps only this (encrypted), never a URL, so moving the
    default store needs no migration while the old store stays configured.
    """

    storage: str
    container: str
    key: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> StoredRef:
        fields = json.loads(data)
        return cls(storage=fields["storage"], container=fields["container"], key=fields["key"])


class ObjectWriter(Protocol):
    """A streamed write: bytes go out as they come; the object appears whole on close,
    or not at all if the ``with`` block raised."""

    def write(self, data: bytes) -> int: ...

    @property
    def bytes_written(self) -> int: ...


@dataclass(frozen=True)
class PresignedUpload:
    """A URL a client may send one object to, with the method and headers it must use."""

    url: str
    method: str
    headers: dict[str, str]


@runtime_checkable
class Store(Protocol):
    """A place for objects: streamed reads and writes, size, delete, links."""

    storage: str
    container: str

    def ref(self, key: str) -> StoredRef:
        """The reference to keep for ``key`` in this store."""
        ...

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A binary file object reading the object from the start."""
        ...

    def open_write(self, key: str) -> AbstractContextManager[ObjectWriter]:
        """A streamed writer; the object is replaced atomically when the block ends."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; ``FileNotFoundError`` if it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The keys of the objects under ``prefix`` (a folder such as ``"01ABC/"``), in no
        particular order; unfinished writes are not objects."""
        ...

    def presigned_get(self, key: str, expires_at: datetime, file_name: str) -> str | None:
        """The provider's own signed URL, or None when loadbay must serve the file itself."""
        ...

    def presigned_put(self, key: str, expires_at: datetime) -> PresignedUpload | None:
        """A signed URL a client may upload ``key`` to directly, or None if the store
        cannot take direct uploads (local disk)."""
        ...
