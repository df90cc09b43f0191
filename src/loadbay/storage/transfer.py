"""Moving objects between stores as a stream (memory bounded by the chunk size)."""

from __future__ import annotations

from loadbay.storage.base import Store

_CHUNK = 1024 * 1024


def copy_object(source: Store, key: str, target: Store, target_key: str) -> int:
    """Copy ``key`` of ``source`` to ``target_key`` of ``target``; return the bytes copied."""
    with source.open_read(key) as reader, target.open_write(target_key) as writer:
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
