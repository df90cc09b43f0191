from __future__ import annotations

from pathlib import Path

from loadbay.storage.local import LocalStore
from loadbay.storage.memory import MemoryStore
from loadbay.storage.transfer import copy_object, move_object

DATA = b"x" * 3_000_000


def put(store: LocalStore | MemoryStore, key: str, data: bytes) -> None:
    with store.open_write(key) as writer:
        writer.write(data)


def read(store: LocalStore | MemoryStore, key: str) -> bytes:
    with store.open_read(key) as reader:
        return reader.read()


def test_move_between_local_stores_links_then_deletes(tmp_path: Path) -> None:
    incoming, permanent = LocalStore(tmp_path / "in"), LocalStore(tmp_path / "perm")
    put(incoming, "j/upload", DATA)
    assert move_object(incoming, "j/upload", permanent, "j/upload") == len(DATA)
    assert read(permanent, "j/upload") == DATA
    assert not incoming.exists("j/upload")


def test_copy_keeps_the_original_and_replaces_the_target(tmp_path: Path) -> None:
    one, two = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    put(one, "k", DATA)
    put(two, "k", b"old")
    copy_object(one, "k", two, "k")
    assert read(two, "k") == DATA
    assert read(one, "k") == DATA


def test_move_across_kinds_of_store_streams_the_bytes(tmp_path: Path) -> None:
    memory, local = MemoryStore("m"), LocalStore(tmp_path / "l")
    put(memory, "k", DATA)
    assert move_object(memory, "k", local, "deep/k") == len(DATA)
    assert read(local, "deep/k") == DATA
    assert not memory.exists("k")


def test_metadata_travels_with_a_copy_and_stale_metadata_does_not_stay(tmp_path: Path) -> None:
    one, two = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    memory = MemoryStore("m")
    with one.open_write("k", {"origin": "upload"}) as writer:
        writer.write(b"data")
    with two.open_write("k", {"stale": "yes"}) as writer:
        writer.write(b"old")
    copy_object(one, "k", two, "k")
    assert two.metadata("k") == {"origin": "upload"}
    copy_object(two, "k", memory, "k")
    assert memory.metadata("k") == {"origin": "upload"}
    with one.open_write("plain", None) as writer:
        writer.write(b"x")
    copy_object(one, "plain", two, "k")
    assert two.metadata("k") == {}
