"""The Store protocol that every storage backend implements.

>>> from loadbay.storage.memory import MemoryStore
>>> store = MemoryStore("box")
>>> with store.open_write("a/b.csv") as writer:
...     _ = writer.write(b"hello")
>>> store.size("a/b.csv")
5

User metadata is written with the object and read back with ``metadata``; tags can be
replaced after the write (``set_tags``) where the backend supports them (``supports_tags``,
otherwise :class:`UnsupportedOperation`):

>>> with store.open_write("a/c.csv", metadata={"Owner": "ann"}) as writer:
...     _ = writer.write(b"x")
>>> store.metadata("a/c.csv")
{'owner': 'ann'}
>>> store.set_tags("a/c.csv", {"state": "clean"})
>>> store.tags("a/c.csv")
{'state': 'clean'}

Both are restricted to what S3, Azure Blob and GCS all accept, so that moving a store
keeps them (see :func:`check_metadata` and :func:`check_tags`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class UnsupportedOperation(NotImplementedError):
    """The backend (or this store's configuration) cannot do this, e.g. tags on GCS or
    on an S3 server without object tagging (``tagging = false``)."""


_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
METADATA_MAX_BYTES = 2048
"""S3's limit for all user metadata (keys and values) of one object."""
_TAG_TEXT = re.compile(r"[A-Za-z0-9 +\-./:=_]*")
MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """``metadata`` with lower-cased keys, or ``ValueError``.

    Keys are ASCII identifiers (letters, digits, ``_``; not starting with a digit: Azure
    metadata names are C# identifiers, and S3/Azure/GCS differ on case, so keys are
    lower-cased). Values are printable ASCII without surrounding spaces (S3 and Azure
    carry them in HTTP headers; S3 returns non-ASCII values RFC 2047-encoded). Keys and
    values together stay within S3's 2 KiB."""
    checked: dict[str, str] = {}
    total = 0
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise ValueError(f"metadata key {key!r}: use ASCII letters, digits and _")
        if not isinstance(value, str) or any(not 32 <= ord(c) < 127 for c in value):
            raise ValueError(f"metadata {key!r}: the value must be printable ASCII")
        if value != value.strip():
            raise ValueError(f"metadata {key!r}: the value has surrounding spaces")
        lowered = key.lower()
        if lowered in checked:
            raise ValueError(f"metadata key {key!r} given twice (keys are case-insensitive)")
        checked[lowered] = value
        total += len(lowered) + len(value)
    if total > METADATA_MAX_BYTES:
        raise ValueError(f"metadata exceeds {METADATA_MAX_BYTES} bytes")
    return checked


def check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """``tags`` as a dict, or ``ValueError``: at most 10, keys of 1-128 and values of
    0-256 characters among ASCII letters, digits, space and ``+ - . / : = _`` (what both
    S3 object tags and Azure blob index tags accept). Keys are case-sensitive."""
    checked = dict(tags)
    if len(checked) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per object")
    for key, value in checked.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
            raise ValueError(f"tag key {key!r}: 1 to {MAX_TAG_KEY} characters")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise ValueError(f"tag {key!r}: the value has at most {MAX_TAG_VALUE} characters")
        if not _TAG_TEXT.fullmatch(key) or not _TAG_TEXT.fullmatch(value):
            raise ValueError(
                f"tag {key!r}: use ASCII letters, digits, space and + - . / : = _ only"
            )
    return checked


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
    """A place for objects: streamed reads and writes, size, delete, links, user
    metadata and tags."""

    storage: str
    container: str
    supports_tags: bool
    """Whether ``tags``/``set_tags`` work (otherwise they raise UnsupportedOperation)."""

    def ref(self, key: str) -> StoredRef:
        """The reference to keep for ``key`` in this store."""
        ...

    def open_read(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AbstractContextManager[BinaryIO]:
        """A binary file object reading the object's bytes from ``start`` up to ``end``
        (exclusive; ``None``: to the end), so that workers can each read a part of one
        file; ``FileNotFoundError`` if it does not exist."""
        ...

    def open_write(
        self, key: str, metadata: Mapping[str, str] | None = None
    ) -> AbstractContextManager[ObjectWriter]:
        """A streamed writer; the object is replaced atomically when the block ends,
        with ``metadata`` (see :func:`check_metadata`; ``ValueError`` before anything is
        written) as its user metadata and no tags."""
        ...

    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata written with the object (lower-cased keys, no provider
        prefix); ``FileNotFoundError`` if it does not exist."""
        ...

    def tags(self, key: str) -> dict[str, str]:
        """The object's tags; ``FileNotFoundError`` if it does not exist,
        ``UnsupportedOperation`` unless ``supports_tags``."""
        ...

    def set_tags(self, key: str, tags: Mapping[str, str]) -> None:
        """Replace all the object's tags (see :func:`check_tags`); ``FileNotFoundError``
        if it does not exist, ``UnsupportedOperation`` unless ``supports_tags``."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; ``FileNotFoundError`` if it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object (with its metadata and tags); removing a missing object is
        not an error."""
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


class RangeReader(io.RawIOBase):
    """At most ``length`` bytes of ``inner``, read from where it stands: a byte range of
    a stream that has already skipped (or seeked to) the range's start."""

    def __init__(self, inner: BinaryIO, length: int | None) -> None:
        self._inner = inner
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        if self._left is not None:
            target = target[: self._left]
        if not len(target):
            return 0
        count = self._inner.readinto(target)  # type: ignore[attr-defined]
        if self._left is not None:
            self._left -= count
        return int(count)


def skip_bytes(stream: BinaryIO, count: int) -> None:
    """Read and drop ``count`` bytes (for a stream that cannot seek)."""
    while count > 0:
        dropped = len(stream.read(min(count, 1 << 20)))
        if not dropped:
            return
        count -= dropped


def byte_range(stream: BinaryIO, start: int, end: int | None) -> BinaryIO:
    """``stream`` (at offset 0) cut to ``[start, end)``: seeks when it can."""
    if start:
        if stream.seekable():
            stream.seek(start)
        else:
            skip_bytes(stream, start)
    if end is None:
        return stream
    return io.BufferedReader(RangeReader(stream, max(0, end - start)), 1 << 20)
