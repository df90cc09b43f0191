"""Import benchmark: loadbay end to end against a plain-Python SQLite reference.

For each size (100,000 and 1,000,000 rows by default): generate a ``user`` CSV under
``bench/.data/`` (seeded, streamed to disk, reused; exactly 2% invalid rows spread evenly,
no reference columns); time the reference (csv module + one ``executemany`` into a fresh
SQLite table keyed by its primary key, WAL, ``synchronous=NORMAL``, one transaction, no
validation, no report); then start ``loadbay serve`` on the default SQLite setup in a temp
data directory, upload the file (``POST /api/v1/imports``) and time it until the job is
``completed``, sampling the server's RSS (children included) every 0.1 s. The job's counts
and the downloaded result file (one line per row + header) are checked.

Goals, reported PASS/MISS: loadbay rows/s >= 0.5x the reference; peak RSS growth over the
idle server < 150 MiB, about the same at every size (within 20 MiB or 25%). The exit status
is non-zero only when something broke (no server, failed job, wrong counts or result).

Rerun: ``make bench``, or ``.venv/bin/python -m bench.import_bench --rows 100000``
(``--rows`` is repeatable and takes comma lists; ``--rows 20000`` is a quick smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

DATA_DIR = Path(__file__).resolve().parent / ".data"
HEADER = "External ID,First Name,Last Name,Email,Phone,Date of Birth,Role,Status"
FIRST = ["Aarav", "Ada", "Alan", "Amara", "Ana", "Bob", "Carla", "Chen", "Diego", "Elif", "Emma"]
LAST = ["Ahmed", "Brown", "Costa", "Dubois", "García", "Kim", "Müller", "O'Brien", "Okafor"]
DOB_RANGE = (dt.date(1950, 1, 1).toordinal(), dt.date(2010, 12, 31).toordinal())
ROLES = ["member", "org_admin", "content_creator", "reviewer"]
INVALID_EVERY = 50  # one row in 50 is invalid: exactly 2%
TOKEN = "bench-token"
LOADBAY = Path(sys.executable).parent / "loadbay"  # the venv's console script
MIB = 1024 * 1024
JOB_TIMEOUT_S = 20 * 60
RATIO_GOAL = 0.5
GROWTH_GOAL_MIB = 150.0


class BenchError(RuntimeError):
    """Something broke: the run is not a measurement."""


@dataclass
class Result:
    rows: int
    ref_rows_s: float
    seconds: float = 0.0
    base_mib: float = 0.0
    peak_mib: float = 0.0

    @property
    def rows_s(self) -> float:
        return self.rows / self.seconds

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.base_mib


def ascii_only(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().replace("'", "")


def make_row(i: int, rng: random.Random) -> list[str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{ascii_only(first)}.{ascii_only(last)}.{i}@example.com".lower()
    phone = "+" + rng.choice("123456789") + "".join(rng.choices("0123456789", k=9))
    born = dt.date.fromordinal(rng.randint(*DOB_RANGE))
    row = [f"U{i:07d}", first, last, email, phone, born.isoformat(), rng.choice(ROLES)]
    row.append(rng.choice(["active", "inactive"]))
    if i % INVALID_EVERY == INVALID_EVERY - 1:
        kind = (i // INVALID_EVERY) % 5
        column, value = [(3, "bob@"), (4, "123"), (5, "1990-13-45"), (1, ""), (6, "chief")][kind]
        row[column] = value
    return row


def data_file(rows: int) -> Path:
    """The generated file for ``rows`` rows, written once and then reused."""
    path = DATA_DIR / f"users_v1_{rows}.csv"
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ...", flush=True)
    partial = path.with_suffix(".partial")
    rng = random.Random(20261122)
    with partial.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER.split(","))
        writer.writerows(make_row(i, rng) for i in range(rows))
    partial.replace(path)
    return path


def reference_rows_s(path: Path, rows: int) -> float:
    with tempfile.TemporaryDirectory(prefix="loadbay-ref-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "ref.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE users(external_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT,"
            " email TEXT, phone TEXT, date_of_birth TEXT, role TEXT, status TEXT)"
        )
        start = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            next(reader)
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        (count,) = conn.execute("SELECT count(*) FROM users").fetchone()
        conn.close()
    if count != rows:
        raise BenchError(f"reference wrote {count} rows, expected {rows}")
    return rows / elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / MIB


class RssSampler(threading.Thread):
    """Keeps the peak RSS of a process tree, sampled every 0.1 s."""

    def __init__(self, proc: psutil.Process, start_mib: float) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak_mib, self.done = proc, start_mib, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            try:
                self.peak_mib = max(self.peak_mib, rss_mib(self.proc))
            except psutil.NoSuchProcess:
                return


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp / "loadbay.toml"
    data_dir = json.dumps(str(tmp / "data"))  # a JSON string is a valid TOML basic string
    config.write_text(
        f'data_dir = {data_dir}\n\n[[auth.tokens]]\ntoken = "{TOKEN}"\nuser = "bench"\n'
        'tenant = ""\nroles = ["admin"]\n'
    )
    port = free_port()
    cmd = [str(LOADBAY), "serve", "--config", str(config), "--port", str(port)]
    with (tmp / "server.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return proc, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    log_tail = (tmp / "server.log").read_text(errors="replace")[-3000:]
    raise BenchError(f"server did not answer /healthz within 30 s: {cmd}\n{log_tail}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        if child.is_running():
            child.kill()


def upload(client: httpx.Client, path: Path) -> str:
    with path.open("rb") as f:
        resp = client.post(
            "/api/v1/imports", data={"dataset": "user"}, files={"file": (path.name, f, "text/csv")}
        )
    if resp.status_code != 202:
        raise BenchError(f"upload answered {resp.status_code}: {resp.text[:2000]}")
    return str(resp.json()["id"])


def wait_completed(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        resp = client.get(f"/api/v1/jobs/{job_id}")
        resp.raise_for_status()
        job: dict[str, Any] = resp.json()
        if job["status"] == "completed":
            return job
        if job["status"] not in {"received", "scanning", "processing"}:
            raise BenchError(f"job ended {job['status']}: {json.dumps(job, indent=2)}")
        time.sleep(0.2)
    raise BenchError(f"job {job_id} not completed after {JOB_TIMEOUT_S} s")


def check_counts(job: dict[str, Any], rows: int) -> None:
    counts = job["counts"]
    if counts["success"] + counts["failure"] != rows or counts["failure"] != rows // INVALID_EVERY:
        raise BenchError(
            f"wrong counts for {rows} rows ({rows // INVALID_EVERY} invalid): {counts}"
        )


def result_lines(client: httpx.Client, job_id: str, dest: Path) -> int:
    """Download the job's result file to ``dest`` and count its lines."""
    resp = client.get(f"/api/v1/jobs/{job_id}/result-link")
    if resp.status_code != 200:
        raise BenchError(f"result-link answered {resp.status_code}: {resp.text[:2000]}")
    # No bearer token: the link carries its own signature (a presigned URL would refuse one).
    with (
        httpx.stream("GET", resp.json()["url"], timeout=300, trust_env=False) as download,
        dest.open("wb") as f,
    ):
        download.raise_for_status()
        for chunk in download.iter_bytes():
            f.write(chunk)
    lines, last = 0, b""
    with dest.open("rb") as f:
        while chunk := f.read(MIB):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (1 if last not in (b"", b"\n") else 0)


def timed_import(pid: int, base_url: str, path: Path, result: Result, tmp: Path) -> None:
    """Upload, wait for ``completed`` and check the job; fills in seconds and peak RSS."""
    server = psutil.Process(pid)
    result.base_mib = rss_mib(server)
    sampler = RssSampler(server, result.base_mib)
    sampler.start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = httpx.Timeout(600, connect=10)
    try:
        with httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, trust_env=False
        ) as client:
            start = time.perf_counter()
            job_id = upload(client, path)
            job = wait_completed(client, job_id)
            result.seconds = time.perf_counter() - start
            check_counts(job, result.rows)
            lines = result_lines(client, job_id, tmp / "result.csv")
    finally:
        sampler.done.set()
        sampler.join()
        result.peak_mib = sampler.peak_mib
    if lines != result.rows + 1:
        raise BenchError(f"result file has {lines} lines, expected {result.rows + 1}")


def measure_loadbay(path: Path, result: Result) -> None:
    with tempfile.TemporaryDirectory(prefix="loadbay-bench-", ignore_cleanup_errors=True) as tmp:
        proc, base_url = start_server(Path(tmp))
        try:
            timed_import(proc.pid, base_url, path, result, Path(tmp))
        finally:
            stop_server(proc)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(results: list[Result]) -> None:
    print()
    print(
        f"{'rows':>9} | {'loadbay s':>9} | {'loadbay rows/s':>14} | {'ref rows/s':>10} | "
        f"{'ratio (>=0.5)':>13} | {'base MiB':>8} | {'peak MiB':>8} | {'growth MiB (<150)':>17}"
    )
    print("-" * 112)
    for r in results:
        ratio = r.rows_s / r.ref_rows_s
        print(
            f"{r.rows:>9,} | {r.seconds:>9.1f} | {r.rows_s:>14,.0f} | {r.ref_rows_s:>10,.0f} | "
            f"{ratio:>8.2f} {verdict(ratio >= RATIO_GOAL)} | {r.base_mib:>8.1f} | "
            f"{r.peak_mib:>8.1f} | {r.growth_mib:>12.1f} {verdict(r.growth_mib < GROWTH_GOAL_MIB)}"
        )
    if len(results) > 1:
        small, large = min(results, key=lambda r: r.rows), max(results, key=lambda r: r.rows)
        diff = large.growth_mib - small.growth_mib
        ok = abs(diff) <= max(20.0, 0.25 * small.growth_mib)
        print(
            f"growth at {small.rows:,} rows {small.growth_mib:.1f} MiB vs {large.rows:,} rows "
            f"{large.growth_mib:.1f} MiB: {diff:+.1f} MiB (goal: about the same, within "
            f"20 MiB or 25%) {verdict(ok)}"
        )


def parse_rows(values: list[str] | None) -> list[int]:
    if not values:
        return [100_000, 1_000_000]
    try:
        sizes = [int(v) for value in values for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise SystemExit(f"--rows: {exc}") from None
    if not sizes or any(n <= 0 or n % INVALID_EVERY for n in sizes):
        raise SystemExit(f"--rows: each size must be a positive multiple of {INVALID_EVERY}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", action="append", help="row counts, repeatable or 1000,5000")
    sizes = parse_rows(parser.parse_args(argv).rows)
    results: list[Result] = []
    try:
        for rows in sizes:
            path = data_file(rows)
            result = Result(rows=rows, ref_rows_s=reference_rows_s(path, rows))
            print(f"{rows:,} rows: reference {result.ref_rows_s:,.0f} rows/s", flush=True)
            measure_loadbay(path, result)
            print(f"{rows:,} rows: loadbay {result.rows_s:,.0f} rows/s", flush=True)
            results.append(result)
    except (BenchError, httpx.HTTPError, psutil.Error) as exc:
        print(f"BENCH BROKE: {exc}", file=sys.stderr)
        if results:
            print_table(results)
        return 1
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
