"""Moving objects between stores as a stream (memory bounded by the chunk size)."""

from __future__ import annotations

import os
import shutil

from loadbay.storage.base import Store
from loadbay.storage.local import LocalStore

_CHUNK = 1024 * 1024


def copy_object(source: Store, key: str, target: Store, target_key: str) -> int:
    """Copy ``key`` of ``source``, with its metadata, to ``target_key`` of ``target``;
    return the bytes copied. Tags are not copied (not every store has them).

    Between two directories of one file system the copy is a hard link: instant,
    whatever the size, and the original stays until it is deleted."""
    metadata = source.metadata(key)
    if isinstance(source, LocalStore) and isinstance(target, LocalStore):
        destination = target.path(target_key)
        destination.parent.mkdir(parents=True, exist_ok=True)
        target.delete(target_key)  # and its metadata sidecar
        try:
            os.link(source.path(key), destination)
        except OSError:
            pass  # another file system: copy the bytes
        else:
            if metadata:
                sidecar = target.sidecar(target_key)
                sidecar.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.sidecar(key), sidecar)
            return destination.stat().st_size
    with source.open_read(key) as reader, target.open_write(target_key, metadata) as writer:
        while chunk := reader.read(_CHUNK):
            writer.write(chunk)
        return writer.bytes_written


def move_object(source: Store, key: str, target: Store, target_key: str) -> int:
    """Copy, then delete the original: a crash in between leaves two copies, never none."""
    if source is target and key == target_key:
        return source.size(key)
    copied = copy_object(source, key, target, target_key)
    source.delete(key)
    return copied
