"""Listing keys, on every backend of the Store protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbay.storage.base import Store
from loadbay.storage.local import LocalStore
from loadbay.storage.memory import MemoryStore


@pytest.fixture(params=["memory", "local", "s3", "azure"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "memory":
        return MemoryStore("keys")
    if request.param == "local":
        return LocalStore(tmp_path / "keys")
    server = request.getfixturevalue("ministack" if request.param == "s3" else "azurite")
    built: Store = server.store(prefix="some/prefix")
    return built


def test_keys_lists_what_was_written_under_a_prefix(store: Store) -> None:
    for key in ("a/1.csv", "a/2.csv", "b/1.csv"):
        with store.open_write(key) as writer:
            writer.write(b"x")
    assert sorted(store.list_keys()) == ["a/1.csv", "a/2.csv", "b/1.csv"]
    assert sorted(store.list_keys("a/")) == ["a/1.csv", "a/2.csv"]
    store.delete("a/1.csv")
    assert sorted(store.list_keys("a/")) == ["a/2.csv"]
    assert list(store.list_keys("nothing/")) == []


def _write_and_fail(store: Store) -> None:
    with store.open_write("c/broken.csv") as writer:
        writer.write(b"partial")
        raise RuntimeError("the client went away")


def test_an_unfinished_write_is_not_listed(store: Store) -> None:
    with pytest.raises(RuntimeError):
        _write_and_fail(store)
    assert list(store.list_keys("c/")) == []
