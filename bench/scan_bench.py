"""Scanning benchmark: loadbay's ClamdScanner against a minimal raw INSTREAM client.

Starts a clamd the way the tests do (``tests/fixtures_clamd.py``: its own tiny signature
database, StreamMaxLength 300M), generates a 200 MiB file of seeded random bytes under
``bench/.data/`` (streamed to disk, reused), then, in the same run and alternating so
both see the same conditions: (a) the reference, a hand-written client sending the file
with ``zINSTREAM`` in 1 MiB chunks; (b) ``ClamdScanner.scan`` of the same file (which
also asks clamd its VERSION, as every scan does). One unmeasured scan warms clamd and
the page cache first: clamd's first large stream after start is ~3x slower.

Reports the best of ``--repeat`` (3) runs of each in MiB/s, and their ratio; goal:
loadbay >= 0.8x the reference, reported PASS/MISS. The exit status is non-zero only
when something broke (no clamd, a verdict other than clean, a socket error).

Rerun: ``.venv/bin/python -m bench.scan_bench`` (``--size-mib 50`` for a quick run,
``--transport unix`` for clamd's unix socket).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.fixtures_clamd import APT_PACKAGES, ClamdServer, find_clamd

from bench._common import MIB, BenchError, random_file
from loadbay.scanners import ScannerUnavailable, ScanVerdict
from loadbay.scanners.clamd import ClamdScanner

CHUNK = MIB
RATIO_GOAL = 0.8


def data_file(size_mib: int) -> Path:
    return random_file("scan_v1", size_mib)


def raw_instream(server: ClamdServer, transport: str, path: Path) -> None:
    """The reference: the least a client can do, 1 MiB chunks, one buffer per chunk."""
    if transport == "tcp":
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(str(server.socket_path))
    with sock, path.open("rb") as f:
        sock.sendall(b"zINSTREAM\0")
        while chunk := f.read(CHUNK):
            sock.sendall(struct.pack(">I", len(chunk)) + chunk)
        sock.sendall(struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            piece = sock.recv(4096)
            if not piece:
                break
            reply += piece
    if reply != b"stream: OK\0":
        raise BenchError(f"raw INSTREAM: clamd answered {reply!r}")


def loadbay_scan(scanner: ClamdScanner, path: Path) -> None:
    with path.open("rb") as f:
        result = scanner.scan(f)
    if result.verdict is not ScanVerdict.CLEAN or result.bytes_scanned != path.stat().st_size:
        raise BenchError(f"ClamdScanner: unexpected result {result}")


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(server: ClamdServer, transport: str, path: Path, repeat: int) -> tuple[float, float]:
    """Best MiB/s of the reference and of ClamdScanner, runs alternating."""
    url = server.tcp_url if transport == "tcp" else server.unix_url
    scanner = ClamdScanner(url, chunk_bytes=CHUNK)
    size_mib = path.stat().st_size / MIB
    raw_instream(server, transport, path)  # warm-up, not measured
    raw_best = ours_best = 0.0
    for attempt in range(1, repeat + 1):
        raw = size_mib / timed(lambda: raw_instream(server, transport, path))
        ours = size_mib / timed(lambda: loadbay_scan(scanner, path))
        print(f"run {attempt}: raw {raw:7.1f} MiB/s   loadbay {ours:7.1f} MiB/s", flush=True)
        raw_best, ours_best = max(raw_best, raw), max(ours_best, ours)
    return raw_best, ours_best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=200, help="file size (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept")
    parser.add_argument("--transport", choices=["tcp", "unix"], default="tcp")
    args = parser.parse_args(argv)
    binary = find_clamd()
    if binary is None:
        print(
            f"BENCH BROKE: clamd not found (apt-get install -y {' '.join(APT_PACKAGES)})",
            file=sys.stderr,
        )
        return 1
    try:
        path = data_file(args.size_mib)
        with (
            tempfile.TemporaryDirectory(prefix="loadbay-clamd-") as tmp,
            ClamdServer(binary, Path(tmp)) as server,
        ):
            print(f"{server.binary} {server.tcp_url} pid {server.pid}; {path}", flush=True)
            raw, ours = measure(server, args.transport, path, args.repeat)
    except (BenchError, ScannerUnavailable, OSError, RuntimeError) as exc:
        print(f"BENCH BROKE: {exc}", file=sys.stderr)
        return 1
    ratio = ours / raw
    verdict = "PASS" if ratio >= RATIO_GOAL else "MISS"
    print(
        f"\n{args.size_mib} MiB over {args.transport}, best of {args.repeat}:\n"
        f"  raw INSTREAM (reference)  {raw:7.1f} MiB/s\n"
        f"  loadbay ClamdScanner      {ours:7.1f} MiB/s\n"
        f"  ratio {ratio:.2f} (goal >= {RATIO_GOAL}) {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
