"""Objects in a dict (``memory://name``): the test double of the Store protocol."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import BinaryIO

from loadbay.storage.base import PresignedUpload, StoredRef, check_metadata, check_tags


class _BufferWriter:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)

    @property
    def bytes_written(self) -> int:
        return self.buffer.tell()


class MemoryStore:
    storage = "memory"
    supports_tags = True

    def __init__(self, container: str) -> None:
        self.container = container
        self.objects: dict[str, bytes] = {}
        self.object_metadata: dict[str, dict[str, str]] = {}
        self.object_tags: dict[str, dict[str, str]] = {}

    def ref(self, key: str) -> StoredRef:
        return StoredRef(self.storage, self.container, key)

    @contextmanager
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        if key not in self.objects:
            raise FileNotFoundError(key)
        yield io.BytesIO(self.objects[key][start:end])

    @contextmanager
    def open_write(
        self, key: str, metadata: Mapping[str, str] | None = None
    ) -> Iterator[_BufferWriter]:
        checked = check_metadata(metadata)
        writer = _BufferWriter()
        yield writer
        self.objects[key] = writer.buffer.getvalue()
        self.object_metadata[key] = checked
        self.object_tags.pop(key, None)

    def _require(self, key: str) -> None:
        if key not in self.objects:
            raise FileNotFoundError(key)

    def metadata(self, key: str) -> dict[str, str]:
        self._require(key)
        return dict(self.object_metadata.get(key, {}))

    def tags(self, key: str) -> dict[str, str]:
        self._require(key)
        return dict(self.object_tags.get(key, {}))

    def set_tags(self, key: str, tags: Mapping[str, str]) -> None:
        checked = check_tags(tags)
        self._require(key)
        self.object_tags[key] = checked

    def size(self, key: str) -> int:
        if key not in self.objects:
            raise FileNotFoundError(key)
        return len(self.objects[key])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.object_metadata.pop(key, None)
        self.object_tags.pop(key, None)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return iter([key for key in self.objects if key.startswith(prefix)])

    def presigned_get(self, key: str, expires_at: datetime, file_name: str) -> str | None:
        return None

    def presigned_put(self, key: str, expires_at: datetime) -> PresignedUpload | None:
        return None
