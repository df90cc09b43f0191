"""Objects as files under a directory (``file:///path``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from loadbay.storage.base import PresignedUpload, StoredRef


class _FileWriter:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        self.bytes_written += written
        return written


class LocalStore:
    """A directory; keys are relative POSIX paths that may not climb out of it."""

    storage = "file"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.container = str(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def ref(self, key: str) -> StoredRef:
        return StoredRef(self.storage, self.container, key)

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        with self.path(key).open("rb") as handle:
            yield handle

    @contextmanager
    def open_write(self, key: str) -> Iterator[_FileWriter]:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(descriptor, "wb", buffering=1024 * 1024) as handle:
                yield _FileWriter(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".part-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def presigned_get(self, key: str, expires_at: datetime, file_name: str) -> str | None:
        return None

    def presigned_put(self, key: str, expires_at: datetime) -> PresignedUpload | None:
        return None
