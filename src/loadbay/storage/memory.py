"""Objects in a dict (``memory://name``): the test double of the Store protocol."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import BinaryIO

from loadbay.storage.base import PresignedUpload, StoredRef


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

    def __init__(self, container: str) -> None:
        self.container = container
        self.objects: dict[str, bytes] = {}

    def ref(self, key: str) -> StoredRef:
        return StoredRef(self.storage, self.container, key)

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        if key not in self.objects:
            raise FileNotFoundError(key)
        yield io.BytesIO(self.objects[key])

    @contextmanager
    def open_write(self, key: str) -> Iterator[_BufferWriter]:
        writer = _BufferWriter()
        yield writer
        self.objects[key] = writer.buffer.getvalue()

    def size(self, key: str) -> int:
        if key not in self.objects:
            raise FileNotFoundError(key)
        return len(self.objects[key])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return iter([key for key in self.objects if key.startswith(prefix)])

    def presigned_get(self, key: str, expires_at: datetime, file_name: str) -> str | None:
        return None

    def presigned_put(self, key: str, expires_at: datetime) -> PresignedUpload | None:
        return None
