"""Objects as files under a directory (``file:///path``).

User metadata and tags live in a sidecar JSON file per object, ``.meta/<key>.json`` under
the root (``{"metadata": {...}, "tags": {...}}``): ``list_keys`` never shows it, ``delete``
removes it, and keys whose first segment is ``.meta`` are refused. Writing an object
replaces its sidecar (the new metadata, no tags), as a PUT does on S3 and Azure.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from loadbay.storage.base import (
    PresignedUpload,
    StoredRef,
    byte_range,
    check_metadata,
    check_tags,
)

META_DIR = ".meta"
"""The folder under the root that holds the sidecar files (no key may start with it)."""


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
    supports_tags = True

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.container = str(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        if parts[0] == META_DIR:
            raise ValueError(f"invalid object key {key!r}: {META_DIR}/ is reserved")
        return self.root.joinpath(*parts)

    def sidecar(self, key: str) -> Path:
        """The JSON file holding ``key``'s metadata and tags."""
        target = self.path(key)
        relative = target.relative_to(self.root)
        return self.root / META_DIR / relative.parent / f"{relative.name}.json"

    def _read_sidecar(self, key: str) -> dict[str, dict[str, str]]:
        if not self.path(key).is_file():
            raise FileNotFoundError(key)
        try:
            data = json.loads(self.sidecar(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"metadata": {}, "tags": {}}
        return {"metadata": dict(data.get("metadata", {})), "tags": dict(data.get("tags", {}))}

    def _write_sidecar(self, key: str, content: dict[str, dict[str, str]]) -> None:
        target = self.sidecar(key)
        if not content["metadata"] and not content["tags"]:
            target.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(content, handle, sort_keys=True)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def ref(self, key: str) -> StoredRef:
        return StoredRef(self.storage, self.container, key)

    @contextmanager
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        with self.path(key).open("rb") as handle:
            yield byte_range(handle, start, end)

    @contextmanager
    def open_write(
        self, key: str, metadata: Mapping[str, str] | None = None
    ) -> Iterator[_FileWriter]:
        checked = check_metadata(metadata)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(descriptor, "wb", buffering=1024 * 1024) as handle:
                yield _FileWriter(handle)
                handle.flush()
                os.fsync(handle.fileno())
            # The sidecar first: a crash in between leaves the old bytes with the new
            # metadata rather than new bytes described by stale metadata and tags.
            self._write_sidecar(key, {"metadata": checked, "tags": {}})
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def metadata(self, key: str) -> dict[str, str]:
        return self._read_sidecar(key)["metadata"]

    def tags(self, key: str) -> dict[str, str]:
        return self._read_sidecar(key)["tags"]

    def set_tags(self, key: str, tags: Mapping[str, str]) -> None:
        checked = check_tags(tags)
        content = self._read_sidecar(key)
        content["tags"] = checked
        self._write_sidecar(key, content)

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
        self.sidecar(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".part-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not key.startswith(f"{META_DIR}/"):
                    yield key

    def presigned_get(self, key: str, expires_at: datetime, file_name: str) -> str | None:
        return None

    def presigned_put(self, key: str, expires_at: datetime) -> PresignedUpload | None:
        return None
