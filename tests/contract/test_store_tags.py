"""User metadata and tags, on every backend of the Store protocol: memory, local disk,
S3 (ministack, and ``rclone serve s3`` with ``tagging = false``), Azure (Azurite).

Metadata travels with the write everywhere. Tags work on memory, local disk, ministack
and Azurite (blob index tags); rclone has no object tagging (a PutObjectTagging there
overwrites the object with the XML body), so its store is configured ``tagging = false``
and must refuse with ``UnsupportedOperation`` while the object stays intact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbay.storage.base import Store, UnsupportedOperation
from loadbay.storage.local import LocalStore
from loadbay.storage.memory import MemoryStore
from loadbay.storage.object_store import ObjectStore

BACKENDS = ["memory", "local", "s3", "rclone", "azure"]
SERVER_FIXTURE = {"s3": "ministack", "rclone": "rclone", "azure": "azurite"}
TAGGING = {"memory": True, "local": True, "s3": True, "rclone": False, "azure": True}


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "memory":
        return MemoryStore("tags")
    if kind == "local":
        return LocalStore(tmp_path / "tags")
    server = request.getfixturevalue(SERVER_FIXTURE[kind])
    built: Store = server.store(prefix="some/prefix")
    return built


def put(store: Store, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
    with store.open_write(key, metadata=metadata) as writer:
        writer.write(data)


def write_then_fail(store: Store, key: str, metadata: dict[str, str]) -> None:
    with store.open_write(key, metadata=metadata) as writer:
        writer.write(b"new")
        raise RuntimeError("boom")


def get(store: Store, key: str) -> bytes:
    with store.open_read(key) as reader:
        return reader.read()


def test_metadata_round_trips_with_lower_cased_keys(store: Store) -> None:
    metadata = {"Owner": "ann", "upload_id": "01ABC", "note": "a b=c/d:e", "empty": ""}
    put(store, "a/1.csv", b"hello", metadata)
    assert store.metadata("a/1.csv") == {
        "owner": "ann",
        "upload_id": "01ABC",
        "note": "a b=c/d:e",
        "empty": "",
    }
    assert get(store, "a/1.csv") == b"hello"


def test_no_metadata_reads_back_empty(store: Store) -> None:
    put(store, "a/plain.csv", b"x")
    assert store.metadata("a/plain.csv") == {}


def test_rewriting_an_object_replaces_its_metadata(store: Store) -> None:
    put(store, "a/1.csv", b"one", {"version": "1", "old": "yes"})
    put(store, "a/1.csv", b"two", {"version": "2"})
    assert store.metadata("a/1.csv") == {"version": "2"}
    assert get(store, "a/1.csv") == b"two"


def test_metadata_of_a_multipart_write(store: Store) -> None:
    data = b"m" * (11 * 1024 * 1024)  # over two 5 MiB parts on S3, blocks on Azure
    put(store, "big.bin", data, {"kind": "big"})
    assert store.metadata("big.bin") == {"kind": "big"}
    assert store.size("big.bin") == len(data)


@pytest.mark.parametrize(
    "metadata",
    [
        {"name": "Zoë"},  # S3 returns non-ASCII values RFC 2047-encoded: refused everywhere
        {"name": "line\nbreak"},
        {"name": " padded"},
        {"x-thing": "v"},  # Azure metadata names are C# identifiers
        {"1st": "v"},
        {"": "v"},
        {"Owner": "a", "owner": "b"},
        {"big": "v" * 3000},
    ],
)
def test_invalid_metadata_is_refused_before_writing(store: Store, metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="metadata"):
        put(store, "bad.csv", b"x", metadata)
    assert not store.exists("bad.csv")
    with pytest.raises(ValueError, match="metadata"), store.open_write("bad.csv", metadata) as w:
        w.write(b"x")
    assert not store.exists("bad.csv")


def test_metadata_of_a_missing_object(store: Store) -> None:
    with pytest.raises(FileNotFoundError):
        store.metadata("missing.csv")


def test_tags_set_replace_and_read(store: Store, kind: str) -> None:
    if not TAGGING[kind]:
        pytest.skip("no tagging on this backend (see the unsupported test)")
    assert store.supports_tags
    put(store, "a/1.csv", b"hello", {"owner": "ann"})
    assert store.tags("a/1.csv") == {}
    store.set_tags("a/1.csv", {"state": "clean", "Scan": "2026-11-22T08:00:00Z"})
    assert store.tags("a/1.csv") == {"state": "clean", "Scan": "2026-11-22T08:00:00Z"}
    store.set_tags("a/1.csv", {"state": "infected"})
    assert store.tags("a/1.csv") == {"state": "infected"}
    store.set_tags("a/1.csv", {})
    assert store.tags("a/1.csv") == {}
    # Tags never touch the bytes or the metadata.
    assert get(store, "a/1.csv") == b"hello"
    assert store.metadata("a/1.csv") == {"owner": "ann"}


def test_rewriting_an_object_clears_its_tags(
    store: Store, kind: str, request: pytest.FixtureRequest
) -> None:
    if not TAGGING[kind]:
        pytest.skip("no tagging on this backend")
    if kind == "s3":
        # AWS S3 gives an overwritten object no tags; ministack keeps the old ones.
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="ministack keeps tags across PutObject")
        )
    put(store, "a/1.csv", b"one")
    store.set_tags("a/1.csv", {"state": "clean"})
    put(store, "a/1.csv", b"two")
    assert store.tags("a/1.csv") == {}


def test_tags_of_a_missing_object(store: Store, kind: str) -> None:
    if not TAGGING[kind]:
        pytest.skip("no tagging on this backend")
    with pytest.raises(FileNotFoundError):
        store.tags("missing.csv")
    with pytest.raises(FileNotFoundError):
        store.set_tags("missing.csv", {"a": "1"})
    assert not store.exists("missing.csv")


@pytest.mark.parametrize(
    "tags",
    [
        {f"k{i}": "v" for i in range(11)},
        {"": "v"},
        {"k" * 129: "v"},
        {"k": "v" * 257},
        {"k": "Zoë"},
        {"k@": "v"},  # S3 allows @, Azure does not
    ],
)
def test_invalid_tags_are_refused(store: Store, tags: dict[str, str]) -> None:
    put(store, "a/1.csv", b"hello")
    with pytest.raises(ValueError, match="tag"):
        store.set_tags("a/1.csv", tags)
    assert get(store, "a/1.csv") == b"hello"


def test_unsupported_tags_leave_the_object_intact(store: Store, kind: str) -> None:
    if TAGGING[kind]:
        pytest.skip("this backend has tags")
    assert not store.supports_tags
    put(store, "a/1.csv", b"hello", {"owner": "ann"})
    with pytest.raises(UnsupportedOperation):
        store.set_tags("a/1.csv", {"state": "clean"})
    with pytest.raises(UnsupportedOperation):
        store.tags("a/1.csv")
    assert get(store, "a/1.csv") == b"hello"
    assert store.metadata("a/1.csv") == {"owner": "ann"}
    assert isinstance(UnsupportedOperation(), NotImplementedError)


def test_rclone_tagging_really_corrupts_objects(request: pytest.FixtureRequest) -> None:
    """Why the rclone store is ``tagging = false``: with tagging on, PutObjectTagging
    replaces the object. If this starts failing, rclone learnt tagging."""
    server = request.getfixturevalue("rclone")
    options = {**server.options(), "tagging": True}
    store = ObjectStore("r", server.url(server.create_bucket(), "p"), options)
    assert store.supports_tags
    put(store, "a.csv", b"hello")
    store.set_tags("a.csv", {"state": "clean"})
    assert get(store, "a.csv") != b"hello"


def test_gcs_has_no_tags() -> None:
    store = ObjectStore("g", "gs://bucket/p", {})  # no request is made
    assert not store.supports_tags
    with pytest.raises(UnsupportedOperation):
        store.tags("a.csv")
    with pytest.raises(UnsupportedOperation):
        store.set_tags("a.csv", {"a": "1"})


def test_tagging_option_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match=r"stores\.s\.tagging"):
        ObjectStore("s", "s3://bucket", {"tagging": "no"})


def test_local_sidecars_are_hidden_and_deleted(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    put(store, "a/1.csv", b"hello", {"owner": "ann"})
    store.set_tags("a/1.csv", {"state": "clean"})
    sidecar = store.sidecar("a/1.csv")
    assert sidecar.is_file()
    assert sidecar.is_relative_to(store.root / ".meta")
    assert sorted(store.list_keys()) == ["a/1.csv"]
    store.delete("a/1.csv")
    assert not sidecar.exists()
    assert list(store.list_keys()) == []
    put(store, "a/1.csv", b"again")
    assert store.metadata("a/1.csv") == {}
    assert store.tags("a/1.csv") == {}


def test_local_store_refuses_keys_in_the_sidecar_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ValueError, match="reserved"):
        put(store, ".meta/a.csv", b"x")
    with pytest.raises(ValueError, match="reserved"):
        store.exists(".meta/a.csv.json")
    put(store, "x/.meta/a.csv", b"fine")  # only the first segment is reserved
    assert sorted(store.list_keys()) == ["x/.meta/a.csv"]


def test_a_failed_local_write_keeps_the_old_metadata(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    put(store, "a.csv", b"old", {"v": "1"})
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(store, "a.csv", {"v": "2"})
    assert get(store, "a.csv") == b"old"
    assert store.metadata("a.csv") == {"v": "1"}
