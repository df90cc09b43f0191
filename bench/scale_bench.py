"""Scale-out benchmark: the 1M-row user file into PostgreSQL with 1 and with 2 workers.

The file is ``bench.import_bench.data_file`` (seeded, 2% invalid rows, reused from
``bench/.data/``). First the raw reference, in the same run: one ``COPY`` of that file
into a fresh PostgreSQL table (``bench.pg_copy_reference``: no validation, no report).
Then, for 1 and for 2 worker processes: fresh service and target databases on
PostgreSQL (the target's ``users`` table created beforehand, as loadbay's ``SqlTarget``
makes it: ``--cold-target`` leaves that to the workers, who race to create it),
local-disk stores in a temp data dir, no scanner, the Celery executor on a private Redis
database and queue, ``[executor] chunk_bytes`` set so that the file is cut into about 12
chunks; ``loadbay serve`` only enqueues and N ``loadbay worker
--concurrency 1`` processes (each its own process, so two use both cores) run the steps.
The file is uploaded (``POST /api/v1/imports``) and timed from the submit until the job
is ``completed``; the counts must be exact (success + failure == rows, failure == the
known invalid rows), the target must hold the valid rows and the report (fetched
through ``result-link``) one line per row plus the header.

Printed: rows/s for each worker count, the scaling ratio 2-vs-1, the ratio of each to
raw COPY, and PASS/MISS against the goals (2 workers >= 1.7x 1 worker; end to end >=
0.35x raw COPY). From the workers' logs (``job X step Y done in Ns``): every phase's
steps, summed seconds and wall span, the serial part (upload, scan, split, index,
finalize, and the gaps between steps) against the parallel part (parse/N, decide/N),
the ceiling that leaves for 2 workers (Amdahl), and the CPU seconds the workers, the
server and the PostgreSQL backends of the run used, with how busy the machine was: what
bounds the scaling. The exit status is non-zero only when something broke (no server or
worker, a failed job, wrong counts or report), never for a missed goal.

Rerun: ``make bench``, or ``.venv/bin/python -m bench.scale_bench [--rows 100000]``
(``--workers 1,2`` and ``--chunk-bytes N`` too; ``LOADBAY_BENCH_POSTGRES`` names the
server, default ``postgresql://postgres@127.0.0.1:5432/postgres``;
``LOADBAY_BENCH_REDIS`` the broker, default ``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import redis

from bench._common import MIB, BenchError
from bench.import_bench import (
    INVALID_EVERY,
    LOADBAY,
    TOKEN,
    check_counts,
    data_file,
    free_port,
    result_lines,
    stop_server,
    upload,
    wait_completed,
)
from bench.import_bench import BenchError as ImportBenchError
from bench.pg_copy_reference import ADMIN_URL, copy_rows_s, fresh_database
from loadbay.datasets.registry import load_registry
from loadbay.db.engine import make_engine
from loadbay.sinks.sql_table import SqlTarget

REDIS_URL = os.environ.get("LOADBAY_BENCH_REDIS", "redis://127.0.0.1:6379/15")
SCALING_GOAL = 1.7
COPY_GOAL = 0.35
TARGET_CHUNKS = 12  # enough for two workers to stay busy until the last chunk
MIN_CHUNK_BYTES = 256 * 1024
SERIAL_PHASES = ("scan", "split", "index", "finalize")
PARALLEL_PHASES = ("parse", "decide")
PHASES = ("scan", "split", "parse", "index", "decide", "finalize")
STEP_DONE = re.compile(r"job (\S+) step (\S+) done in ([0-9.]+)s")
SHARED_POSTGRES = ("walwriter", "checkpointer", "background writer", "autovacuum")
CHUNKS_LINE = re.compile(r"job (\S+): (\d+) bytes in (\d+) chunk")


@dataclass(frozen=True)
class StepTime:
    name: str
    worker: int
    start: float  # epoch seconds (end minus duration)
    end: float

    @property
    def phase(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Run:
    workers: int
    rows: int
    seconds: float = 0.0
    upload_seconds: float = 0.0
    submitted_at: float = 0.0  # epoch seconds
    completed_at: float = 0.0
    chunks: int = 0
    steps: list[StepTime] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of all cores busy during the job, 0..1

    @property
    def rows_s(self) -> float:
        return self.rows / self.seconds

    @property
    def our_cores(self) -> float:
        """Cores this run's processes used on average during the job."""
        return sum(self.cpu.values()) / self.seconds

    @property
    def other_cores(self) -> float:
        """Cores every other process on the machine used meanwhile (other users)."""
        return max(self.machine_busy * (psutil.cpu_count() or 1) - self.our_cores, 0.0)

    def phase_sum(self, phase: str) -> float:
        return sum(s.seconds for s in self.steps if s.phase == phase)

    def phase_span(self, phase: str) -> float:
        mine = [s for s in self.steps if s.phase == phase]
        return max(s.end for s in mine) - min(s.start for s in mine) if mine else 0.0

    @property
    def serial_steps(self) -> float:
        return sum(self.phase_sum(p) for p in SERIAL_PHASES)

    @property
    def parallel_work(self) -> float:
        return sum(self.phase_sum(p) for p in PARALLEL_PHASES)

    @property
    def busy_union(self) -> float:
        """Seconds during which at least one step was running."""
        total, reach = 0.0, 0.0
        for s in sorted(self.steps, key=lambda s: s.start):
            start = max(s.start, reach)
            if s.end > start:
                total += s.end - start
            reach = max(reach, s.end)
        return total

    @property
    def idle(self) -> float:
        """Seconds of the job (after the upload) with no step running: queue hand-offs,
        the wait for the first step and the poll that sees ``completed``."""
        return max(self.seconds - self.upload_seconds - self.busy_union, 0.0)


# --- processes -------------------------------------------------------------------------


def write_config(
    tmp: Path, service_url: str, target_url: str, chunk_bytes: int, queue: str
) -> Path:
    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    config = tmp / "loadbay.toml"
    config.write_text(
        f"data_dir = {q(str(tmp / 'data'))}\n"
        f"[database]\nurl = {q(service_url)}\n"
        f"[target]\nurl = {q(target_url)}\n"
        '[scanner]\nbackend = "none"\n'
        f'[executor]\nbackend = "celery"\nbroker_url = {q(REDIS_URL)}\nqueue = {q(queue)}\n'
        f"concurrency = 1\nchunk_bytes = {chunk_bytes}\n"
        '[logging]\nformat = "json"\n'
        f'[[auth.tokens]]\ntoken = "{TOKEN}"\nuser = "bench"\ntenant = ""\nroles = ["admin"]\n',
        encoding="utf-8",
    )
    return config


def forget_queue(queue: str) -> None:
    """Delete what the broker kept for this run's queue (kombu's binding keys)."""
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"*{queue}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def start_serve(tmp: Path, config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log_path = tmp / "serve.log"
    cmd = [str(LOADBAY), "serve", "--config", str(config), "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return proc, base_url
        time.sleep(0.1)
    stop_server(proc)
    tail = log_path.read_text("utf-8", "replace")[-3000:]
    raise BenchError(f"loadbay serve did not answer /healthz within 60 s: {cmd}\n{tail}")


def start_worker(tmp: Path, config: Path, n: int) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = tmp / f"worker-{n}.log"
    cmd = [str(LOADBAY), "worker", "--config", str(config), "--concurrency", "1"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "C_FORCE_ROOT": "1"},
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            tail = log_path.read_text("utf-8", "replace")[-3000:]
            raise BenchError(f"loadbay worker {n} did not get ready within 60 s: {cmd}\n{tail}")
        time.sleep(0.2)
    return proc, log_path


# --- measurements ----------------------------------------------------------------------


def _busy_share(start: Any, end: Any) -> float:
    """The share of all cores' time between two ``psutil.cpu_times()`` that was busy."""
    fields = [f for f in end._fields if f not in ("guest", "guest_nice")]  # in user already
    total = sum(getattr(end, f) - getattr(start, f) for f in fields)
    idle = sum(getattr(end, f) - getattr(start, f) for f in ("idle", "iowait") if f in fields)
    return (total - idle) / total if total > 0 else 0.0


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class CpuSampler(threading.Thread):
    """CPU seconds used while the job runs, by role: the worker processes, the server,
    and the PostgreSQL backends connected to this run's databases (sampled every 0.5 s,
    so a backend that ends between samples loses its last moments: a lower bound)."""

    def __init__(self, roles: dict[str, list[int]], databases: list[str]) -> None:
        super().__init__(daemon=True)
        self.roles = roles
        self.databases = databases
        self.done = threading.Event()
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.role_of: dict[int, str] = {}
        self.machine_start = psutil.cpu_times()
        self.machine_busy = 0.0
        self.base = self._sample()  # baseline: what the processes used before the job

    def _postgres(self) -> Iterator[tuple[psutil.Process, str]]:
        """This run's backends, and the server's shared writers (WAL, checkpoints,
        autovacuum: other users' work too, but mostly this load's while it runs)."""
        for proc in psutil.process_iter(["name"]):
            if proc.info.get("name") != "postgres":
                continue
            try:
                line = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if any(d in line for d in self.databases):
                yield proc, "postgres"
            elif any(w in line for w in SHARED_POSTGRES):
                yield proc, "postgres shared"

    def _sample(self) -> dict[int, float]:
        seen: dict[int, float] = {}
        for role, pids in self.roles.items():
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    top = psutil.Process(pid)
                    for proc in [top, *top.children(recursive=True)]:
                        seen[proc.pid] = _cpu_seconds(proc)
                        self.role_of[proc.pid] = role
        with contextlib.suppress(psutil.Error):  # this process (polling, sampling)
            seen[os.getpid()] = _cpu_seconds(psutil.Process())
            self.role_of[os.getpid()] = "bench"
        for proc, role in self._postgres():
            with contextlib.suppress(psutil.Error):
                seen[proc.pid] = _cpu_seconds(proc)
                self.role_of[proc.pid] = role
        return seen

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.last.update(self._sample())

    def finish(self) -> dict[str, float]:
        self.done.set()
        self.join()
        self.last.update(self._sample())
        self.machine_busy = _busy_share(self.machine_start, psutil.cpu_times())
        totals: dict[str, float] = {}
        for pid, seconds in self.last.items():
            role = self.role_of[pid]
            totals[role] = totals.get(role, 0.0) + seconds - self.base.get(pid, 0.0)
        return totals


def step_times(logs: list[Path], job_id: str) -> tuple[list[StepTime], int]:
    """Every step of the job the workers logged as done, and the number of chunks."""
    steps: list[StepTime] = []
    chunks = 0
    for n, path in enumerate(logs, start=1):
        for line in path.read_text("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            message = str(record.get("message", ""))
            if (found := CHUNKS_LINE.search(message)) and found[1] == job_id:
                chunks = int(found[3])
            done = STEP_DONE.search(message)
            if done is None or done[1] != job_id:
                continue
            when = record["time"].replace("Z", "+00:00")
            end = _epoch(when)
            steps.append(StepTime(done[2], n, end - float(done[3]), end))
    steps.sort(key=lambda s: s.start)
    return steps, chunks


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def print_worker_errors(logs: list[Path], most: int = 3) -> None:
    """The first error records (with their tracebacks) of the workers' logs."""
    for n, path in enumerate(logs, start=1):
        shown = 0
        for line in path.read_text("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("level") == "ERROR" and shown < most:
                    shown += 1
                    print(f"worker {n}: {record.get('message')}", file=sys.stderr)
                    if record.get("exception"):
                        print(f"{record['exception']}", file=sys.stderr)


def target_rows(target_url: str) -> int:
    url = target_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM users").fetchone()
    return int(row[0]) if row else 0


def create_target_table(target_url: str) -> None:
    """Create the ``users`` table the way loadbay does on first use (``SqlTarget``), so
    that the workers find it: two workers starting on an empty target race to create it
    (see ``--cold-target``)."""
    dataset = load_registry(None).get("user")
    if dataset is None:
        raise BenchError("no built-in user dataset")
    engine = make_engine(target_url)
    try:
        SqlTarget(engine).sink(dataset)
    finally:
        engine.dispose()


def chunk_bytes_for(path: Path, wanted: int | None) -> int:
    if wanted:
        return wanted
    size = path.stat().st_size
    return max(MIN_CHUNK_BYTES, -(-size // TARGET_CHUNKS))


def measure(path: Path, rows: int, workers: int, chunk_bytes: int, cold: bool) -> Run:
    run = Run(workers=workers, rows=rows)
    with contextlib.ExitStack() as stack:
        tmp = Path(
            stack.enter_context(
                tempfile.TemporaryDirectory(prefix="loadbay-scale-", ignore_cleanup_errors=True)
            )
        )
        service_db = stack.enter_context(fresh_database(ADMIN_URL, "loadbay_scale_svc"))
        target_db = stack.enter_context(fresh_database(ADMIN_URL, "loadbay_scale_tgt"))
        service_url, target_url = (
            u.replace("postgresql://", "postgresql+psycopg://", 1) for u in (service_db, target_db)
        )
        if not cold:
            create_target_table(target_url)
        queue = f"loadbay-scale-bench-{secrets.token_hex(4)}"  # this run's own queue
        stack.callback(forget_queue, queue)  # last, once the processes have stopped
        config = write_config(tmp, service_url, target_url, chunk_bytes, queue)
        serve, base_url = start_serve(tmp, config)  # first: it migrates the service database
        stack.callback(stop_server, serve)
        procs: list[subprocess.Popen[bytes]] = []
        logs: list[Path] = []
        for n in range(1, workers + 1):
            proc, log = start_worker(tmp, config, n)
            stack.callback(stop_server, proc)
            procs.append(proc)
            logs.append(log)
        databases = [u.rsplit("/", 1)[1] for u in (service_db, target_db)]
        sampler = CpuSampler({"workers": [p.pid for p in procs], "serve": [serve.pid]}, databases)
        sampler.start()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        timeout = httpx.Timeout(600, connect=10)
        with httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, trust_env=False
        ) as client:
            try:
                run.submitted_at = time.time()
                start = time.perf_counter()
                job_id = upload(client, path)
                run.upload_seconds = time.perf_counter() - start
                try:
                    job = wait_completed(client, job_id)
                except ImportBenchError:
                    print_worker_errors(logs)
                    raise
                run.seconds = time.perf_counter() - start
                run.completed_at = time.time()
            finally:
                run.cpu = sampler.finish()
                run.machine_busy = sampler.machine_busy
            check_counts(job, rows)
            lines = result_lines(client, job_id, tmp / "result.csv")
        if lines != rows + 1:
            raise BenchError(f"report has {lines} lines, expected {rows + 1}")
        valid = rows - rows // INVALID_EVERY
        if (written := target_rows(target_url)) != valid:
            raise BenchError(f"the target holds {written} users, expected {valid}")
        run.steps, run.chunks = step_times(logs, job_id)
        missing = set(PHASES) - {s.phase for s in run.steps}
        if missing:
            print(f"  (no step timings logged for {sorted(missing)})", flush=True)
    return run


# --- report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_steps(run: Run) -> None:
    print(
        f"\n{run.workers} worker(s): {run.chunks} chunks, job {run.seconds:.1f} s = upload "
        f"{run.upload_seconds:.1f} s + steps running {run.busy_union:.1f} s + no step "
        f"running {run.idle:.1f} s"
    )
    print(f"  {'phase':<9} | {'steps':>5} | {'sum s':>7} | {'wall s':>7} | {'mean s':>6}")
    for phase in PHASES:
        mine = [s for s in run.steps if s.phase == phase]
        if not mine:
            continue
        total = run.phase_sum(phase)
        print(
            f"  {phase:<9} | {len(mine):>5} | {total:>7.2f} | {run.phase_span(phase):>7.2f} | "
            f"{total / len(mine):>6.2f}"
        )
    per_worker = {
        n: sum(s.seconds for s in run.steps if s.worker == n) for n in range(1, run.workers + 1)
    }
    busy = ", ".join(f"worker {n} {sec:.1f} s" for n, sec in per_worker.items())
    cpu = ", ".join(f"{role} {sec:.1f}" for role, sec in sorted(run.cpu.items()))
    cores = psutil.cpu_count() or 1
    print(f"  step seconds per worker: {busy}")
    print(
        f"  CPU seconds during the job: {cpu}: {run.our_cores:.2f} cores on average; the "
        f"machine was {run.machine_busy:.0%} busy over {cores} cores, other processes "
        f"{run.other_cores:.2f} cores"
    )


def print_summary(copy_rows_s: float, runs: list[Run]) -> None:
    print()
    print(f"raw COPY into PostgreSQL: {copy_rows_s:,.0f} rows/s")
    print(f"{'workers':>7} | {'job s':>7} | {'rows/s':>9} | {f'vs COPY (>={COPY_GOAL})':>17}")
    print("-" * 50)
    for run in runs:
        ratio = run.rows_s / copy_rows_s
        print(
            f"{run.workers:>7} | {run.seconds:>7.1f} | {run.rows_s:>9,.0f} | "
            f"{ratio:>12.2f} {verdict(ratio >= COPY_GOAL)}"
        )
    by_workers = {r.workers: r for r in runs}
    if 1 not in by_workers or 2 not in by_workers:
        return
    one, two = by_workers[1], by_workers[2]
    scaling = two.rows_s / one.rows_s
    print(
        f"scaling 2 vs 1 worker: {scaling:.2f}x (goal >= {SCALING_GOAL}x) "
        f"{verdict(scaling >= SCALING_GOAL)}"
    )
    # Amdahl from the 1-worker run: only parse/N and decide/N can be shared.
    serial = one.upload_seconds + one.serial_steps + one.idle
    parallel = one.parallel_work
    ideal_two = serial + parallel / 2
    ceiling = one.seconds / ideal_two if ideal_two > 0 else 0.0
    print("\nwhat bounds the scaling:")
    print(
        f"  1 worker: serial {serial:.1f} s (upload {one.upload_seconds:.1f}, "
        + ", ".join(f"{p} {one.phase_sum(p):.1f}" for p in SERIAL_PHASES)
        + f", no step running {one.idle:.1f}) + parallel {parallel:.1f} s (parse "
        f"{one.phase_sum('parse'):.1f}, decide {one.phase_sum('decide'):.1f}) "
        f"= {serial / one.seconds:.0%} serial"
    )
    print(
        f"  with those serial seconds unchanged and the parallel ones halved, 2 workers "
        f"take {ideal_two:.1f} s: a ceiling of {ceiling:.2f}x (Amdahl)"
    )
    for phase in PARALLEL_PHASES:
        s1, s2 = one.phase_sum(phase), two.phase_sum(phase)
        if s1 > 0:
            print(
                f"  {phase}: {s1:.1f} s of step time with 1 worker, {s2:.1f} s with 2 "
                f"({s2 / s1:.2f}x: above 1 means each step ran slower, sharing the cores), "
                f"wall {one.phase_span(phase):.1f} s -> {two.phase_span(phase):.1f} s "
                f"({one.phase_span(phase) / max(two.phase_span(phase), 1e-9):.2f}x)"
            )
    cores = psutil.cpu_count() or 1
    print(
        f"  CPU: 1 worker kept {one.our_cores:.2f} cores busy (worker "
        f"{one.cpu.get('workers', 0.0) / one.seconds:.2f}, PostgreSQL "
        f"{(one.cpu.get('postgres', 0.0) + one.cpu.get('postgres shared', 0.0)) / one.seconds:.2f},"
        f" the rest serve and this bench), so 2x needs {2 * one.our_cores:.2f} of the "
        f"{cores} cores; 2 workers got {two.our_cores:.2f} (other processes took "
        f"{two.other_cores:.2f}, {one.other_cores:.2f} during the 1-worker run)"
    )
    for run, what in ((one, "the 1-worker run's"), (two, "the 2-worker run's")):
        cpu = sum(run.cpu.values())
        print(
            f"  with {what} {cpu:.1f} CPU-seconds spread perfectly over {cores} cores the job "
            f"takes at least {cpu / cores:.1f} s: a ceiling of "
            f"{one.seconds / (cpu / cores):.2f}x (CPU)"
        )


def parse_workers(value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise SystemExit(f"--workers: {exc}") from None
    if not counts or any(n < 1 for n in counts):
        raise SystemExit("--workers: positive counts, e.g. 1,2")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--workers", default="1,2", help="worker process counts (default 1,2)")
    parser.add_argument(
        "--chunk-bytes", type=int, default=None, help=f"default: the file / {TARGET_CHUNKS}"
    )
    parser.add_argument(
        "--cold-target",
        action="store_true",
        help="leave the target empty: the workers create the users table themselves",
    )
    args = parser.parse_args(argv)
    rows = args.rows
    if rows <= 0 or rows % INVALID_EVERY:
        raise SystemExit(f"--rows: a positive multiple of {INVALID_EVERY}")
    workers = parse_workers(args.workers)
    path = data_file(rows)
    chunk_bytes = chunk_bytes_for(path, args.chunk_bytes)
    print(
        f"{rows:,} rows, {path.stat().st_size / MIB:.1f} MiB, chunk_bytes {chunk_bytes:,} "
        f"({chunk_bytes / MIB:.1f} MiB)",
        flush=True,
    )
    runs: list[Run] = []
    copy_rate = 0.0
    try:
        with fresh_database(ADMIN_URL, "loadbay_scale_copy") as url:
            copy_rate = copy_rows_s(path, url)
        print(f"raw COPY: {copy_rate:,.0f} rows/s", flush=True)
        for n in workers:
            run = measure(path, rows, n, chunk_bytes, args.cold_target)
            print(f"{n} worker(s): {run.seconds:.1f} s, {run.rows_s:,.0f} rows/s", flush=True)
            runs.append(run)
    except (BenchError, ImportBenchError, httpx.HTTPError, psutil.Error, psycopg.Error) as exc:
        print(f"BENCH BROKE: {exc}", file=sys.stderr)
        if runs and copy_rate:
            print_summary(copy_rate, runs)
        return 1
    for run in runs:
        print_steps(run)
    print_summary(copy_rate, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
