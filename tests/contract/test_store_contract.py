"""One contract every Store backend passes: memory, local disk, S3 (ministack and
``rclone serve s3``), Azure (Azurite).

The servers come from ``tests/fixtures_objects.py`` and ``tests/fixtures_rclone.py``;
without them the remote cases skip loudly (fail under ``CI=true``). Remote-only: presigned
links (bytes and Content-Disposition without credentials, refused after expiry, refused
when tampered) and the 200 MB flat-memory check. rclone implements everything this
contract checks (its gaps, tagging, ranged GETs and If-None-Match, are not used by the
Store protocol); it only refuses an expired link with 400 instead of 403.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from loadbay.storage.base import Store, StoredRef
from loadbay.storage.local import LocalStore
from loadbay.storage.memory import MemoryStore
from loadbay.storage.registry import StoreConfigError, open_store

MiB = 1024 * 1024
BACKENDS = ["memory", "local", "s3", "rclone", "azure"]
REMOTE = ["s3", "rclone", "azure"]
SERVER_FIXTURE = {"s3": "ministack", "rclone": "rclone", "azure": "azurite"}


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "memory":
        return MemoryStore("contract")
    if kind == "local":
        return LocalStore(tmp_path / "store")
    server = request.getfixturevalue(SERVER_FIXTURE[kind])
    store: Store = server.store(prefix="some/prefix")
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request.param, request, tmp_path)


@pytest.fixture(params=REMOTE)
def remote_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return make_store(request.param, request, tmp_path)


def put(store: Store, key: str, data: bytes) -> None:
    with store.open_write(key) as writer:
        writer.write(data)
        assert writer.bytes_written == len(data)


def get(store: Store, key: str) -> bytes:
    with store.open_read(key) as reader:
        return reader.read()


def write_then_fail(store: Store, key: str, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``key`` and raise inside the ``open_write`` block."""
    with store.open_write(key) as writer:
        for chunk in chunks:
            writer.write(chunk)
        raise RuntimeError("boom")


def read_missing(store: Store, key: str) -> bytes:
    with store.open_read(key) as reader:
        return reader.read()


def blocks(total: int, size: int = MiB) -> Iterator[bytes]:
    """Deterministic, non-repeating blocks (so a misplaced block changes the hash)."""
    seed = os.urandom(16)
    for index in range(0, total, size):
        yield hashlib.shake_256(seed + index.to_bytes(8, "big")).digest(min(size, total - index))


def test_store_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_write_then_read_small(store: Store) -> None:
    put(store, "small.txt", b"hello, loadbay")
    assert get(store, "small.txt") == b"hello, loadbay"
    with store.open_read("small.txt") as reader:
        assert reader.read(5) == b"hello"
        assert reader.read(2) == b", "
        assert reader.read() == b"loadbay"
        assert reader.read(10) == b""


def test_byte_ranges(store: Store) -> None:
    data = b"".join(blocks(3 * MiB + 17))
    put(store, "ranged.bin", data)
    size = len(data)
    ranges = [(0, 10), (5, 5), (MiB - 3, 2 * MiB + 5), (3 * MiB, None), (0, None)]
    ranges += [(size, None), (size, size + 5), (size + 10, None), (size - 1, None)]
    for start, end in ranges:
        with store.open_read("ranged.bin", start, end) as reader:
            assert reader.read() == data[start:end], (start, end)
    with store.open_read("ranged.bin", 10, 20) as reader:
        assert reader.read(4) == data[10:14]
        assert reader.read() == data[14:20]
        assert reader.read(1) == b""


def test_write_then_read_empty(store: Store) -> None:
    put(store, "empty", b"")
    assert store.size("empty") == 0
    assert get(store, "empty") == b""


def test_write_then_read_20mb_streamed(store: Store) -> None:
    total = 20 * MiB
    written = hashlib.sha256()
    with store.open_write("big/object.bin") as writer:
        for block in blocks(total, 1_000_003):  # odd chunk sizes, not aligned to parts
            written.update(block)
            writer.write(block)
        assert writer.bytes_written == total
    assert store.size("big/object.bin") == total
    read = hashlib.sha256()
    count = 0
    with store.open_read("big/object.bin") as reader:
        while chunk := reader.read(777_777):
            assert len(chunk) <= 777_777
            read.update(chunk)
            count += len(chunk)
    assert count == total
    assert read.hexdigest() == written.hexdigest()


@pytest.mark.parametrize("size", [10, 12 * MiB], ids=["small", "multipart"])
def test_aborted_write_leaves_no_object(store: Store, size: int) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(store, "aborted.bin", blocks(size))
    assert not store.exists("aborted.bin")
    with pytest.raises(FileNotFoundError):
        store.size("aborted.bin")


def test_aborted_overwrite_keeps_the_old_object(store: Store) -> None:
    put(store, "kept.txt", b"old")
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(store, "kept.txt", [b"new and partial"])
    assert get(store, "kept.txt") == b"old"


def test_size_exists_delete(store: Store) -> None:
    assert not store.exists("thing.csv")
    with pytest.raises(FileNotFoundError):
        store.size("thing.csv")
    put(store, "thing.csv", b"a,b\n1,2\n")
    assert store.exists("thing.csv")
    assert store.size("thing.csv") == 8
    store.delete("thing.csv")
    assert not store.exists("thing.csv")
    store.delete("thing.csv")  # missing is fine
    store.delete("never/was/here.csv")


def test_overwrite(store: Store) -> None:
    put(store, "over.txt", b"first version, longer")
    put(store, "over.txt", b"second")
    assert get(store, "over.txt") == b"second"
    assert store.size("over.txt") == 6


def test_keys_with_subfolders(store: Store) -> None:
    keys = ["a/b/c/d.csv", "a/b/e.csv", "a/f.csv", "g h/ü ñ (1).csv"]
    for index, key in enumerate(keys):
        put(store, key, f"content {index}".encode())
    for index, key in enumerate(keys):
        assert get(store, key) == f"content {index}".encode()
        assert store.size(key) == len(f"content {index}")
    store.delete("a/b/e.csv")
    assert store.exists("a/b/c/d.csv")
    assert store.exists("a/f.csv")
    assert not store.exists("a/b/e.csv")


def test_ref_round_trips_through_json(store: Store) -> None:
    ref = store.ref("x/y.csv")
    assert (ref.storage, ref.container, ref.key) == (store.storage, store.container, "x/y.csv")
    assert StoredRef.from_json(ref.to_json()) == ref


def test_reading_a_missing_key_raises_file_not_found(store: Store) -> None:
    with pytest.raises(FileNotFoundError):
        read_missing(store, "missing/key.bin")
    with pytest.raises(FileNotFoundError):
        read_missing(store, "missing")


@pytest.mark.parametrize("kind", ["memory", "local"])
def test_in_process_stores_give_no_presigned_url(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = make_store(kind, request, tmp_path)
    put(store, "k", b"v")
    assert store.presigned_get("k", datetime.now(UTC) + timedelta(minutes=5), "f.csv") is None


def test_s3_aborted_multipart_upload_is_aborted_on_the_server(ministack: object) -> None:
    from tests.fixtures_objects import S3Server

    assert isinstance(ministack, S3Server)
    bucket = ministack.create_bucket()
    store = open_store("r", ministack.url(bucket), ministack.options())

    def pending_uploads() -> int:
        listing = httpx.get(f"{ministack.endpoint}/{bucket}?uploads", timeout=10)
        assert listing.status_code == 200, listing.text
        return listing.text.count("<Upload>")

    seen_during: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield from blocks(12 * MiB)
        time.sleep(0.3)  # let the first parts go out
        seen_during.append(pending_uploads())

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(store, "aborted-multipart.bin", chunks())
    assert seen_during == [1], "the write should have been a multipart upload"
    assert pending_uploads() == 0
    assert not store.exists("aborted-multipart.bin")


# --- presigned links (S3 and Azure) ----------------------------------------------------


def signature_parameter(store: Store) -> str:
    return "X-Amz-Signature" if store.storage == "s3" else "sig"


def tamper(url: str, parameter: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    changed = []
    for name, value in query:
        if name == parameter:
            index = len(value) // 2
            replacement = "0" if value[index] != "0" else "1"
            value = value[:index] + replacement + value[index + 1 :]
        changed.append((name, value))
    tampered = urlunsplit(parts._replace(query=urlencode(changed)))
    assert tampered != url
    return tampered


def test_presigned_get_serves_bytes_and_file_name(remote_store: Store) -> None:
    data = b"id,name\n1,alice\n"
    put(remote_store, "results/job 1/out.csv", data)
    url = remote_store.presigned_get(
        "results/job 1/out.csv", datetime.now(UTC) + timedelta(minutes=5), "report-2026.csv"
    )
    assert url is not None
    response = httpx.get(url)  # no credentials
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-disposition"] == 'attachment; filename="report-2026.csv"'


def test_presigned_get_refused_after_expiry(
    remote_store: Store, request: pytest.FixtureRequest
) -> None:
    put(remote_store, "soon.csv", b"gone soon")
    url = remote_store.presigned_get("soon.csv", datetime.now(UTC) + timedelta(seconds=2), "s.csv")
    assert url is not None
    assert httpx.get(url).status_code == 200
    time.sleep(3.5)
    response = httpx.get(url)
    if request.node.callspec.params["remote_store"] == "rclone":
        # rclone refuses an expired link with 400 AccessDenied ("The difference between the
        # request time and the server's time exceeds the maximum allowed"), not 403.
        assert response.status_code == 400, response.text
        assert "<Code>AccessDenied</Code>" in response.text
    else:
        assert response.status_code == 403, response.text


def test_presigned_get_refused_when_tampered(remote_store: Store) -> None:
    put(remote_store, "signed.csv", b"secret")
    url = remote_store.presigned_get(
        "signed.csv", datetime.now(UTC) + timedelta(minutes=5), "signed.csv"
    )
    assert url is not None
    assert httpx.get(url).status_code == 200
    response = httpx.get(tamper(url, signature_parameter(remote_store)))
    assert response.status_code == 403, response.text
    # Another file name than the one signed is refused too.
    other = url.replace("signed.csv%22", "other.csv%22")
    assert other != url
    assert httpx.get(other).status_code == 403


def test_rclone_refuses_unsigned_and_badly_signed_requests(rclone: object) -> None:
    """rclone checks SigV4 on every request: the rclone cases above ran signed."""
    from obstore.exceptions import PermissionDeniedError

    from tests.fixtures_rclone import RcloneS3Server

    assert isinstance(rclone, RcloneS3Server)
    store = rclone.store()
    put(store, "private.csv", b"not for you")
    bucket = store.container.split("/")[1]
    url = f"{rclone.endpoint}/{bucket}/private.csv"
    assert httpx.get(url, headers=rclone.sign("GET", urlsplit(url).path)).content == (
        b"not for you"
    )
    unsigned = httpx.get(url)
    assert unsigned.status_code in (400, 403), unsigned.text  # rclone 1.75 answers 400
    assert b"not for you" not in unsigned.content
    wrong = open_store("r", rclone.url(bucket), {**rclone.options(), "secret_access_key": "no"})
    with pytest.raises(PermissionDeniedError, match="SignatureDoesNotMatch"):
        get(wrong, "private.csv")


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "option"),
    [("s3://b/p", "account_key"), ("az://c", "region"), ("gs://b", "bogus")],
)
def test_unknown_options_name_the_setting(url: str, option: str) -> None:
    options = {option: "x"}
    if url.startswith("az"):
        options["account_name"] = "acct"
    with pytest.raises(ValueError, match=rf"stores\.results\.{option}"):
        open_store("results", url, options)


def test_badly_typed_option_names_the_setting() -> None:
    with pytest.raises(StoreConfigError, match=r"stores\.results\.allow_http"):
        open_store("results", "s3://b", {"allow_http": "yes"})


def test_container_names_the_place() -> None:
    aws = open_store("r", "s3://bucket/pre/fix", {"region": "eu-west-1"})
    assert (aws.storage, aws.container) == ("s3", "bucket/pre/fix")
    one = open_store("r", "s3://bucket", {"endpoint": "http://10.0.0.1:9000"})
    two = open_store("r", "s3://bucket", {"endpoint": "https://10.0.0.2:9000"})
    assert (one.container, two.container) == ("10.0.0.1:9000/bucket", "10.0.0.2:9000/bucket")
    azure = open_store("r", "az://box/p", {"account_name": "acct", "account_key": "a2V5"})
    assert (azure.storage, azure.container) == ("az", "acct/box/p")


def test_azure_connection_string(azurite: object, tmp_path: Path) -> None:
    from tests.fixtures_objects import AzuriteServer

    assert isinstance(azurite, AzuriteServer)
    container = azurite.create_bucket()
    store = open_store("r", f"az://{container}", {"connection_string": azurite.connection_string()})
    put(store, "cs.txt", b"via connection string")
    assert get(store, "cs.txt") == b"via connection string"


# --- flat memory -------------------------------------------------------------------------


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def test_s3_200mb_write_and_read_keep_memory_flat(ministack: object) -> None:
    import psutil

    from tests.fixtures_objects import S3Server

    assert isinstance(ministack, S3Server)
    store = ministack.store(prefix="flat")
    block = os.urandom(MiB)
    total = 200 * MiB
    put(store, "warmup", block * 12)  # start obstore's runtime and connection pool
    assert get(store, "warmup")[:10] == block[:10]
    baseline = psutil.Process().memory_info().rss
    written = hashlib.sha256()
    with PeakRss() as during_write, store.open_write("flat/200mb.bin") as writer:
        for index in range(total // MiB):
            chunk = index.to_bytes(8, "big") + block[8:]
            written.update(chunk)
            writer.write(chunk)
    assert store.size("flat/200mb.bin") == total
    read = hashlib.sha256()
    with PeakRss() as during_read, store.open_read("flat/200mb.bin") as reader:
        while chunk := reader.read(MiB):
            read.update(chunk)
    assert read.hexdigest() == written.hexdigest()
    growth_write = (during_write.peak - baseline) / MiB
    growth_read = (during_read.peak - baseline) / MiB
    print(f"RSS growth: write {growth_write:.1f} MiB, read {growth_read:.1f} MiB")
    assert growth_write < 50, f"write grew RSS by {growth_write:.1f} MiB"
    assert growth_read < 50, f"read grew RSS by {growth_read:.1f} MiB"


def test_own_sigv4_presign_matches_obstore_sign() -> None:
    """Without response overrides, our presigned GET is byte-for-byte obstore's own."""
    import obstore
    from obstore.store import S3Store

    from loadbay.storage.object_store import presign_s3_get

    endpoint = "http://127.0.0.1:9"
    reference = obstore.sign(
        S3Store(
            "bkt",
            prefix="p q",
            endpoint=endpoint,
            access_key_id="AKID",
            secret_access_key="SECRET/key+",
            region="eu-central-1",
            client_options={"allow_http": True},
        ),
        "GET",
        "dir/ü name~(1).csv",
        timedelta(seconds=90),
    )
    amz_date = dict(parse_qsl(urlsplit(reference).query))["X-Amz-Date"]
    ours = presign_s3_get(
        base_url=f"{endpoint}/bkt",
        path="p q/dir/ü name~(1).csv",
        region="eu-central-1",
        access_key_id="AKID",
        secret_access_key="SECRET/key+",
        session_token=None,
        expires_in=timedelta(seconds=90),
        query={},
        now=datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
    )
    assert ours == reference
