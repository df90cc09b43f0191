"""Storage benchmark: loadbay's stores against each provider's own plain copy.

For each backend, in one run and alternating so both see the same conditions:

- **local**: :class:`~loadbay.storage.local.LocalStore` vs ``shutil.copyfile``
  (LocalStore fsyncs before its atomic rename; copyfile does not);
- **s3**: :class:`~loadbay.storage.object_store.ObjectStore` on ministack vs boto3
  ``upload_file`` / ``download_file`` (default TransferConfig, path-style,
  ``response_checksum_validation="when_required"``);
- **azure**: ObjectStore on Azurite vs azure-storage-blob ``upload_blob`` /
  ``download_blob().readinto`` (SDK defaults).

The servers are started the way the test fixtures do (``tests/fixtures_objects.py``: free
port, own state directory, stopped by PID). The object is ``--size-mib`` (1024) MiB of
seeded random bytes under ``bench/.data/`` (written once, reused). loadbay uploads with
``open_write`` in 8 MiB chunks and downloads with ``open_read``, reading to the end in
8 MiB chunks into a local file (as the references write theirs), so both sides do the
same work. Every transfer is checked (size, and the downloaded file byte for byte).

Reports the best of ``--repeat`` (2) runs in MB/s (10^6 bytes/s), the ratio
loadbay/reference, and the peak RSS growth of this process during each transfer (a
thread samples RSS every 20 ms; growth over the RSS just before the transfer, worst of
the runs). loadbay's growth must stay flat (< 64 MiB, reported PASS/MISS) whatever the
size. The exit status is non-zero only when something broke (a server did not start, a
transfer failed or came back different).

Rerun: ``.venv/bin/python -m bench.storage_bench`` (``--size-mib 64`` for a quick run,
``--backend s3`` to run one backend; repeatable).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench._common import MIB, BenchError, random_file
from loadbay.storage.base import Store
from loadbay.storage.local import LocalStore

CHUNK = 8 * MIB
RSS_FLAT_MIB = 64
BACKENDS = ("local", "s3", "azure")
KEY = "bench/object.bin"


def data_file(size_mib: int) -> Path:
    return random_file("storage_v1", size_mib)


def same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            block_a = fa.read(CHUNK)
            if block_a != fb.read(CHUNK):
                return False
            if not block_a:
                return True


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread; ``growth`` is the peak over
    the RSS at entry, in bytes."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = self.peak = 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@dataclass
class Measure:
    """Best time and worst RSS growth of one transfer over the runs."""

    seconds: float = float("inf")
    rss_growth: int = 0
    runs: list[float] = field(default_factory=list)

    def add(self, seconds: float, rss_growth: int) -> None:
        self.runs.append(seconds)
        self.seconds = min(self.seconds, seconds)
        self.rss_growth = max(self.rss_growth, rss_growth)


def timed(measure: Measure, action: Callable[[], object]) -> None:
    with PeakRss() as rss:
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
    measure.add(elapsed, rss.growth)


@dataclass
class Backend:
    """One backend: the loadbay store, the reference copy functions, cleanup."""

    name: str
    reference: str
    store: Store
    ref_upload: Callable[[Path], object]
    ref_download: Callable[[Path], object]
    ref_size: Callable[[], int]


def loadbay_upload(store: Store, source: Path) -> None:
    with source.open("rb") as f, store.open_write(KEY) as writer:
        while chunk := f.read(CHUNK):
            writer.write(chunk)


def loadbay_download(store: Store, target: Path) -> None:
    with store.open_read(KEY) as reader, target.open("wb") as out:
        shutil.copyfileobj(reader, out, CHUNK)


# --- backends ------------------------------------------------------------------------------


@contextlib.contextmanager
def local_backend(work: Path) -> Iterator[Backend]:
    store = LocalStore(work / "local-store")
    ref_dir = work / "local-ref"
    ref_dir.mkdir()
    ref_path = ref_dir / "object.bin"
    yield Backend(
        name="local",
        reference="shutil.copyfile",
        store=store,
        ref_upload=lambda source: shutil.copyfile(source, ref_path),
        ref_download=lambda target: shutil.copyfile(ref_path, target),
        ref_size=lambda: ref_path.stat().st_size,
    )


def _started(start: Callable[[], None], label: str) -> None:
    """Run a fixture helper's ``start``; its pytest skip/fail becomes a BenchError."""
    try:
        start()
    except BaseException as error:  # pytest's Skipped/Failed are BaseExceptions
        if isinstance(error, KeyboardInterrupt):
            raise
        raise BenchError(f"{label} did not start: {error}") from error


@contextlib.contextmanager
def s3_backend(work: Path) -> Iterator[Backend]:
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]
    from tests.fixtures_objects import S3Server, find_ministack, ministack_process

    binary = find_ministack()
    if binary is None:
        raise BenchError("ministack is not installed (pip install ministack)")
    directory = work / "ministack"
    directory.mkdir()
    process = ministack_process(binary, directory)
    _started(process.start, "ministack")
    try:
        server = S3Server(process)
        store = server.store(prefix="loadbay")
        bucket = server.create_bucket()
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=server.region,
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key=server.secret_access_key,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                response_checksum_validation="when_required",
                request_checksum_calculation="when_required",
            ),
        )
        yield Backend(
            name="s3 (ministack)",
            reference="boto3 upload_file/download_file",
            store=store,
            ref_upload=lambda source: client.upload_file(str(source), bucket, KEY),
            ref_download=lambda target: client.download_file(bucket, KEY, str(target)),
            ref_size=lambda: int(client.head_object(Bucket=bucket, Key=KEY)["ContentLength"]),
        )
    finally:
        process.stop()


@contextlib.contextmanager
def azure_backend(work: Path) -> Iterator[Backend]:
    from azure.storage.blob import BlobServiceClient
    from tests.fixtures_objects import (
        AZURITE_BIN,
        AzuriteServer,
        azurite_process,
        install_azurite,
    )

    if not AZURITE_BIN.exists() and not install_azurite(sys.stderr):
        raise BenchError("azurite is not installed (npm install azurite)")
    directory = work / "azurite"
    directory.mkdir()
    process = azurite_process(directory)
    _started(process.start, "azurite")
    try:
        server = AzuriteServer(process)
        store = server.store(prefix="loadbay")
        container = BlobServiceClient.from_connection_string(
            server.connection_string()
        ).get_container_client(server.create_bucket())

        def upload(source: Path) -> None:
            with source.open("rb") as f:
                container.upload_blob(KEY, f, overwrite=True)

        def download(target: Path) -> None:
            with target.open("wb") as f:
                container.download_blob(KEY).readinto(f)

        yield Backend(
            name="azure (azurite)",
            reference="azure-storage-blob upload_blob/readinto",
            store=store,
            ref_upload=upload,
            ref_download=download,
            ref_size=lambda: int(container.get_blob_client(KEY).get_blob_properties().size),
        )
    finally:
        process.stop()


OPENERS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Backend]]] = {
    "local": local_backend,
    "s3": s3_backend,
    "azure": azure_backend,
}


# --- run -----------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    reference: str
    up: Measure = field(default_factory=Measure)
    ref_up: Measure = field(default_factory=Measure)
    down: Measure = field(default_factory=Measure)
    ref_down: Measure = field(default_factory=Measure)


def run_backend(kind: str, source: Path, repeat: int, work: Path) -> Result:
    size = source.stat().st_size
    with OPENERS[kind](work) as backend:
        result = Result(backend.name, backend.reference)
        target = work / "downloaded.bin"
        for run in range(1, repeat + 1):
            print(f"  {kind} run {run}/{repeat}", flush=True)
            timed(result.up, lambda: loadbay_upload(backend.store, source))
            if backend.store.size(KEY) != size:
                raise BenchError(f"{kind}: loadbay upload stored {backend.store.size(KEY)} bytes")
            timed(result.ref_up, lambda: backend.ref_upload(source))
            if backend.ref_size() != size:
                raise BenchError(f"{kind}: reference upload stored {backend.ref_size()} bytes")
            timed(result.down, lambda: loadbay_download(backend.store, target))
            if not same_file(source, target):
                raise BenchError(f"{kind}: loadbay download differs from the source")
            target.unlink()
            timed(result.ref_down, lambda: backend.ref_download(target))
            if not same_file(source, target):
                raise BenchError(f"{kind}: reference download differs from the source")
            target.unlink()
        backend.store.delete(KEY)
    return result


def mb_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def report(results: list[Result], size: int, repeat: int) -> bool:
    """Print the table; True when every loadbay transfer kept memory flat."""
    print()
    print(f"object {size / MIB:.0f} MiB, best of {repeat}; RSS growth = worst peak over start")
    header = (
        f"{'backend':<17} {'direction':<9} {'loadbay MB/s':>12} {'ref MB/s':>9} "
        f"{'ratio':>6} {'loadbay ΔRSS':>13} {'ref ΔRSS':>9}  reference"
    )
    print(header)
    print("-" * len(header))
    flat = True
    for result in results:
        for direction, ours, theirs in (
            ("upload", result.up, result.ref_up),
            ("download", result.down, result.ref_down),
        ):
            ok = ours.rss_growth < RSS_FLAT_MIB * MIB
            flat = flat and ok
            print(
                f"{result.backend:<17} {direction:<9} {mb_s(size, ours.seconds):>12.0f} "
                f"{mb_s(size, theirs.seconds):>9.0f} {theirs.seconds / ours.seconds:>6.2f} "
                f"{ours.rss_growth / MIB:>9.1f} MiB {theirs.rss_growth / MIB:>5.1f} MiB"
                f"  {result.reference}{'' if ok else '  MISS: memory not flat'}"
            )
    print(
        f"\nloadbay memory flat (< {RSS_FLAT_MIB} MiB growth per transfer): "
        f"{'PASS' if flat else 'MISS'}"
    )
    return flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--size-mib", type=int, default=1024, help="object size (1024)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per transfer (2)")
    parser.add_argument(
        "--backend", action="append", choices=BACKENDS, help="backend(s) to run (all)"
    )
    args = parser.parse_args(argv)
    source = data_file(args.size_mib)
    results: list[Result] = []
    try:
        for kind in args.backend or BACKENDS:
            print(f"{kind}:", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"loadbay-bench-{kind}-") as work:
                results.append(run_backend(kind, source, args.repeat, Path(work)))
    except BenchError as error:
        print(f"BROKEN: {error}", file=sys.stderr)
        if results:
            report(results, source.stat().st_size, args.repeat)
        return 1
    report(results, source.stat().st_size, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
