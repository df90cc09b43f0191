"""ClamdScanner against a real clamd (see ``tests/fixtures_clamd.py``), over TCP and a unix
socket: verdicts, size limits, clamd going away and coming back, bounded memory.

Large streams are generated as they are read, never held in memory or written to disk.
The ``clamd`` fixtures come from ``tests/fixtures_clamd.py``, which ``tests/conftest.py``
loads with ``pytest_plugins`` (or run with ``-p tests.fixtures_clamd``).
"""

from __future__ import annotations

import io
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

import psutil
import pytest

from loadbay.scanners import (
    Scanner,
    ScannerConfigError,
    ScannerUnavailable,
    ScanVerdict,
    open_scanner,
)
from loadbay.scanners.clamd import ClamdScanner
from tests.fixtures_clamd import ClamdServer, eicar

MIB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """``size`` pseudo-random bytes (a 1 MiB block repeated), with ``payload`` at ``offset``."""

    def __init__(self, size: int, payload: bytes = b"", offset: int = 0) -> None:
        self._block = random.Random(size).randbytes(MIB)
        self._size, self._payload, self._offset = size, payload, offset
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._size - self._position)
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < count:
            start = (self._position + filled) % MIB
            piece = min(count - filled, MIB - start)
            view[filled : filled + piece] = self._block[start : start + piece]
            filled += piece
        # Overlay whatever part of the payload falls in this read.
        low = max(self._offset, self._position)
        high = min(self._offset + len(self._payload), self._position + count)
        if low < high:
            view[low - self._position : high - self._position] = self._payload[
                low - self._offset : high - self._offset
            ]
        self._position += count
        return count


def generated(size: int, payload: bytes = b"", offset: int = 0) -> BinaryIO:
    return io.BufferedReader(GeneratedStream(size, payload, offset), buffer_size=MIB)


@pytest.fixture(params=["tcp", "unix"])
def scanner(request: pytest.FixtureRequest, clamd: ClamdServer) -> ClamdScanner:
    return ClamdScanner(clamd.tcp_url if request.param == "tcp" else clamd.unix_url)


def test_a_clean_file_is_clean_and_names_the_engine(scanner: ClamdScanner) -> None:
    data = b"External ID,Email\r\n1,ada@example.org\r\n"

    result = scanner.scan(io.BytesIO(data))

    assert result.verdict is ScanVerdict.CLEAN
    assert result.signature is None
    assert result.engine.startswith("ClamAV ")
    assert result.engine == scanner.version()
    assert result.bytes_scanned == len(data)


def test_eicar_alone_is_infected_and_named(scanner: ClamdScanner) -> None:
    result = scanner.scan(io.BytesIO(eicar()))

    assert result.verdict is ScanVerdict.INFECTED
    assert result.signature is not None
    assert result.signature.startswith("Test.EICAR.")
    assert result.bytes_scanned == 68


def test_eicar_in_the_middle_of_50_mb_is_found(scanner: ClamdScanner) -> None:
    # Across a 1 MiB chunk boundary, so it is only whole once clamd reassembles the stream.
    size, offset = 50 * MIB, 25 * MIB - 30

    result = scanner.scan(generated(size, eicar(), offset))

    assert result.verdict is ScanVerdict.INFECTED
    assert result.signature == "Test.EICAR.NDB.UNOFFICIAL"
    assert result.bytes_scanned == size


def test_50_mb_without_eicar_is_clean(clamd: ClamdServer) -> None:
    result = ClamdScanner(clamd.tcp_url).scan(generated(50 * MIB))

    assert result.verdict is ScanVerdict.CLEAN


@pytest.mark.parametrize("size", [3 * MIB, 200 * MIB])
def test_a_stream_over_stream_max_length_is_too_large(small_clamd: ClamdServer, size: int) -> None:
    # 200 MiB: clamd answers and closes while we are still sending (a broken pipe).
    result = ClamdScanner(small_clamd.tcp_url).scan(generated(size))

    assert result.verdict is ScanVerdict.TOO_LARGE
    assert result.signature is None
    assert result.bytes_scanned < 100 * MIB  # we stopped sending once clamd refused


def test_a_file_over_max_file_size_is_too_large_not_clean(
    clamd_binary: str, tmp_path: Path
) -> None:
    # With AlertExceedsMax yes clamd reports the limit as a "signature"; without it, "OK".
    with ClamdServer(
        clamd_binary, tmp_path, StreamMaxLength="10M", MaxFileSize="1M", MaxScanSize="1M"
    ) as server:
        result = ClamdScanner(server.unix_url).scan(generated(3 * MIB))

    assert result.verdict is ScanVerdict.TOO_LARGE
    assert result.signature is not None
    assert result.signature.startswith("Heuristics.Limits.Exceeded")


def test_clamd_stopped_is_unavailable_then_scans_work_again(clamd: ClamdServer) -> None:
    scanners = [ClamdScanner(clamd.tcp_url, timeout=2), ClamdScanner(clamd.unix_url, timeout=2)]
    clamd.stop()
    try:
        for stopped in scanners:
            with pytest.raises(ScannerUnavailable, match="cannot connect"):
                stopped.scan(io.BytesIO(b"hello"))
            with pytest.raises(ScannerUnavailable):
                stopped.version()
    finally:
        clamd.start()

    for restarted in scanners:
        assert restarted.scan(io.BytesIO(eicar())).verdict is ScanVerdict.INFECTED
        assert restarted.scan(io.BytesIO(b"hello")).verdict is ScanVerdict.CLEAN


def test_open_scanner_chooses_by_backend(clamd: ClamdServer) -> None:
    scanner: Scanner | None = open_scanner("clamd", clamd.unix_url, chunk_bytes=64 * 1024)

    assert isinstance(scanner, ClamdScanner)
    assert scanner.scan(io.BytesIO(eicar())).verdict is ScanVerdict.INFECTED
    assert open_scanner("none", "") is None


def test_an_unknown_backend_names_the_setting() -> None:
    with pytest.raises(ValueError, match=r"scanner\.backend.*'clamav'"):
        open_scanner("clamav", "tcp://127.0.0.1:3310")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "127.0.0.1:3310",
        "http://127.0.0.1:3310",
        "tcp://127.0.0.1",
        "tcp://:3310",
        "tcp://127.0.0.1:port",
        "tcp://127.0.0.1:3310/x",
        "unix://",
        "unix://relative/clamd.sock",
        "unix:///run/clamd.sock?x=1",
    ],
)
def test_a_bad_url_names_the_setting(url: str) -> None:
    with pytest.raises(ScannerConfigError, match=r"scanner\.url"):
        open_scanner("clamd", url)


def test_memory_stays_bounded_scanning_200_mb(clamd: ClamdServer) -> None:
    process = psutil.Process()
    scanner = ClamdScanner(clamd.tcp_url)
    scanner.scan(io.BytesIO(b"warm up"))
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = scanner.scan(generated(200 * MIB))
    finally:
        done.set()
        sampler.join()

    assert result.verdict is ScanVerdict.CLEAN
    assert result.bytes_scanned == 200 * MIB
    growth_mib = (peak - baseline) / MIB
    assert growth_mib < 30, f"RSS grew by {growth_mib:.1f} MiB while scanning 200 MiB"


# What clamd is not expected to do but a scanner must survive: a fake clamd that answers
# VERSION, reads the stream, then misbehaves as told.


@contextmanager
def _fake_clamd(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so that serve() sees `stop` soon
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection, suppress(OSError):  # the client may have given up already
                connection.settimeout(5)
                command = b""
                while not command.endswith(b"\0"):
                    piece = connection.recv(1)
                    if not piece:
                        break
                    command += piece
                if command == b"zVERSION\0":
                    connection.sendall(b"ClamAV fake\0")
                else:
                    behaviour(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _drain_then(reply: bytes | None, wait: float = 0) -> Callable[[socket.socket], None]:
    def behaviour(connection: socket.socket) -> None:
        while True:  # read chunks until the zero length
            header = connection.recv(4, socket.MSG_WAITALL)
            length = int.from_bytes(header, "big") if len(header) == 4 else 0
            if length == 0:
                break
            connection.recv(length, socket.MSG_WAITALL)
        time.sleep(wait)
        if reply is not None:
            connection.sendall(reply)

    return behaviour


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        (_drain_then(b"stream: Can't allocate memory ERROR\0"), "answered"),
        (_drain_then(None), "without a verdict"),
        (_drain_then(b"stream: OK\0", wait=0.5), "no reply"),
    ],
    ids=["error-reply", "closed-without-reply", "timeout"],
)
def test_a_misbehaving_clamd_is_unavailable_never_clean(
    behaviour: Callable[[socket.socket], None], message: str
) -> None:
    with _fake_clamd(behaviour) as url:
        scanner = ClamdScanner(url, timeout=0.2)
        with pytest.raises(ScannerUnavailable, match=message):
            scanner.scan(io.BytesIO(b"x" * 100_000))
