"""Export benchmark: 1M user rows out of PostgreSQL to CSV and Parquet, against ``COPY``.

Setup (not timed): a fresh PostgreSQL target database whose ``users`` table is created by
loadbay's own ``SqlTarget(engine).table(<built-in user dataset>)`` (so the column types
are loadbay's), loaded with one ``COPY`` of ``bench.import_bench.data_file(rows)`` minus
the rows an import would reject (every 50th: 2%), then ``VACUUM (ANALYZE)``. A second
target database gets the first ``rows / 10`` rows of the same file the same way, for the
memory-flatness runs.

Each measurement runs in its own child process (``python -m bench.export_bench --child``),
so its peak RSS is its own: the child's VmHWM (``/proc/self/status``) at its end; it also
reports its RSS just before the export starts (after imports and setup), so
"growth" is what the export itself added. The runs:

* ``COPY csv``: the raw reference, ``COPY (SELECT <the export's columns> FROM users
  [WHERE ...] ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER)`` with psycopg,
  streamed to a local file (fsync'd, as loadbay's local store does);
* ``loadbay csv`` / ``loadbay parquet``: the real export job: ``build_services`` on
  Settings whose target is that database, a fresh SQLite service database, every store
  on local disk in a temp dir, executor ``manual``; ``services.exports.submit(...)`` then
  ``services.executor.run_pending()``, timed from the submit to the job completed (so the
  ``count(*)`` loadbay takes first, the service-database writes and the store's fsync
  are all in). The child also times the export's parts by wrapping (not editing) the
  functions ``ExportFlow.run`` calls: ``count`` (count_rows), ``read`` (waiting on
  read_batches: the query, psycopg, SQLAlchemy rows, the tuples), ``format`` (the
  writer turning rows into bytes) and ``store`` (bytes into the store, the fsync);
* the same with the filter ``{"status": "active"}`` (CSV, and its own COPY reference);
* CSV and Parquet at ``rows / 10`` rows: peak RSS there vs at ``rows`` shows whether
  memory stays flat whatever the row count (goal: within 20 MiB or 25%).

Checks (any failure exits 1; a missed goal does not): the target holds ``rows - rows/50``
rows (``SELECT count(*)``), every file has that many rows (CSV: lines - 1; Parquet:
``num_rows``), the job's counts agree, and every exported file holds exactly the COPY
reference's rows in the same order (each loadbay CSV cell is ``spreadsheet_safe`` of
COPY's cell; each Parquet value spelled as COPY spells it).

Rerun: ``make bench`` (all the benches) or ``.venv/bin/python -m bench.export_bench``;
``--rows 100000`` for a quick run; ``--repeat 3`` keeps the fastest of 3 runs of each
measurement (and the highest peak RSS) on a busy machine; ``--profile`` adds cProfile
runs of the loadbay CSV and Parquet exports (after the measured ones, so their overhead
is not in the figures) and prints where the time goes. PostgreSQL:
``LOADBAY_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench._common import MIB, BenchError
from bench.import_bench import HEADER, INVALID_EVERY, data_file
from bench.pg_copy_reference import ADMIN_URL, fresh_database

REPO = Path(__file__).resolve().parent.parent
FILTERS: dict[str, Any] = {"status": "active"}
WHERE = "status = 'active'"  # FILTERS, as SQL for the COPY reference
FLAT_GOAL_MIB, FLAT_GOAL_SHARE = 20.0, 0.25
TOKEN = "bench-export-token"


# --- setup -----------------------------------------------------------------------------


def user_dataset() -> Any:
    from loadbay.datasets.registry import load_registry

    dataset = load_registry(None).get("user")
    if dataset is None:
        raise BenchError("no built-in user dataset")
    return dataset


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _valid_lines(csv_path: Path) -> Iterator[bytes]:
    """The file's data lines an import would accept: all but every ``INVALID_EVERY``-th
    (``make_row``'s invalid rows), in chunks of about 1 MiB."""
    out: list[bytes] = []
    size = 0
    with csv_path.open("rb") as f:
        f.readline()  # the header
        for index, line in enumerate(f):
            if index % INVALID_EVERY == INVALID_EVERY - 1:
                continue
            out.append(line)
            size += len(line)
            if size >= MIB:
                yield b"".join(out)
                out, size = [], 0
    if out:
        yield b"".join(out)


def load_target(target_url: str, csv_path: Path) -> int:
    """Create ``users`` as loadbay does and COPY the file's valid rows into it; the
    number of rows the table holds."""
    from loadbay.db.engine import make_engine
    from loadbay.sinks.sql_table import SqlTarget

    with csv_path.open(encoding="utf-8") as f:
        if f.readline().rstrip("\r\n") != HEADER:
            raise BenchError(f"{csv_path}: not a user file of bench.import_bench")
    dataset = user_dataset()
    engine = make_engine(sqlalchemy_url(target_url))
    try:
        table = SqlTarget(engine).table(dataset)
    finally:
        engine.dispose()
    by_label = {c.label: c.key for c in dataset.columns}
    columns = ", ".join(by_label[label] for label in HEADER.split(","))
    with psycopg.connect(target_url) as connection:
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for chunk in _valid_lines(csv_path):
                copy.write(chunk)
        connection.commit()
        connection.autocommit = True
        connection.execute(f"VACUUM (ANALYZE) {table.name}")
        row = connection.execute(f"SELECT count(*) FROM {table.name}").fetchone()
    return int(row[0]) if row else 0


def count_where(target_url: str, where: str) -> int:
    with psycopg.connect(target_url) as connection:
        row = connection.execute(f"SELECT count(*) FROM users WHERE {where}").fetchone()
    return int(row[0]) if row else 0


# --- the child processes ---------------------------------------------------------------


def _status_mib(field_name: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def child_copy(job: dict[str, Any]) -> dict[str, Any]:
    columns = ", ".join(job["columns"])
    where = f" WHERE {job['where']}" if job["where"] else ""
    query = f"SELECT {columns} FROM users{where} ORDER BY external_id"
    out = Path(job["out"])
    base = _status_mib("VmRSS")
    start = time.perf_counter()
    with psycopg.connect(job["target"]) as connection, out.open("wb") as f:
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy,
        ):
            for data in copy:
                f.write(data)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "base_mib": base, "file": str(out), "phases": {}}


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"count": 0.0, "read": 0.0, "format": 0.0, "store": 0.0}

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


class _TimedOut:
    """An ObjectWriter whose writes count as ``store`` time."""

    def __init__(self, out: Any, timer: _Timer) -> None:
        self._out, self._timer = out, timer

    def write(self, data: bytes) -> Any:
        with self._timer.part("store"):
            return self._out.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


class _TimedWriter:
    """A RowWriter whose calls count as ``format`` time, less the store's share."""

    def __init__(self, writer: Any, timer: _Timer) -> None:
        self._writer, self._timer = writer, timer

    def _call(self, method: Any, *args: Any) -> None:
        before = self._timer.seconds["store"]
        start = time.perf_counter()
        method(*args)
        stored = self._timer.seconds["store"] - before
        self._timer.seconds["format"] += time.perf_counter() - start - stored

    def write(self, rows: Any) -> None:
        self._call(self._writer.write, rows)

    def close(self) -> None:
        self._call(self._writer.close)


def _instrument(services: Any, timer: _Timer) -> None:
    """Time the export's parts by wrapping what ``ExportFlow.run`` calls (src untouched)."""
    from loadbay.exports import flow as flow_module

    flow: Any = flow_module  # its module globals, replaced below
    count_rows, read_batches, open_writer = flow.count_rows, flow.read_batches, flow.open_writer

    def timed_count(*args: Any, **kwargs: Any) -> int:
        with timer.part("count"):
            return int(count_rows(*args, **kwargs))

    def timed_read(*args: Any, **kwargs: Any) -> Iterator[Any]:
        batches = read_batches(*args, **kwargs)
        while True:
            with timer.part("read"):
                batch = next(batches, None)
            if batch is None:
                return
            yield batch

    def timed_open(format: str, out: Any, *args: Any) -> Any:
        return _TimedWriter(open_writer(format, _TimedOut(out, timer), *args), timer)

    flow.count_rows, flow.read_batches, flow.open_writer = timed_count, timed_read, timed_open
    store = services.stores["exports"]
    open_write = store.open_write

    @contextlib.contextmanager
    def timed_open_write(key: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        manager = open_write(key, *args, **kwargs)
        with timer.part("store"):
            out = manager.__enter__()
        try:
            yield out
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            with timer.part("store"):  # the flush, fsync and rename
                manager.__exit__(None, None, None)

    store.open_write = timed_open_write


def child_loadbay(job: dict[str, Any]) -> dict[str, Any]:
    from loadbay.bootstrap import build_services, tune_garbage_collector
    from loadbay.config import Settings
    from loadbay.domain.jobs import JobStatus
    from loadbay.domain.principals import Principal
    from loadbay.executors.manual import ManualExecutor
    from loadbay.storage.base import StoredRef
    from loadbay.storage.local import LocalStore

    data_dir = Path(job["data_dir"])
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database": {"url": f"sqlite:///{data_dir / 'service.sqlite'}"},
        "target": {"url": sqlalchemy_url(job["target"])},
        "security": {"secret_key": "bench-export-secret"},
        "auth": {"tokens": [{"token": TOKEN, "user": "bench", "tenant": "", "roles": ["admin"]}]},
        "stores": {},  # every store on local disk under data_dir
    }
    settings = Settings(**values)
    services = build_services(settings, executor_backend="manual", scanner=None)
    services.start()
    try:
        executor = services.executor
        assert isinstance(executor, ManualExecutor)
        timer = _Timer()
        if not job["profile"]:
            _instrument(services, timer)
        tune_garbage_collector()  # as `loadbay serve` and `loadbay worker` do
        principal = Principal("bench", "", frozenset({"admin"}))
        profiler = None
        if job["profile"]:
            import cProfile

            profiler = cProfile.Profile()
        base = _status_mib("VmRSS")
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        submitted = services.exports.submit(
            principal, "user", job["filters"] or None, job["format"], None, []
        )
        executor.run_pending()
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - start
        if profiler:
            profiler.dump_stats(job["profile"])
        done = services.job_repository.get(submitted.id)
        if done is None or done.status is not JobStatus.COMPLETED:
            raise BenchError(f"export job ended {done.status if done else 'missing'}: {done}")
        _, encrypted = services.job_repository.refs(done.id)
        if encrypted is None:
            raise BenchError("the completed export has no file")
        ref = StoredRef.from_json(services.keys.decrypt(encrypted))
        store = services.stores["exports"]
        if not isinstance(store, LocalStore):
            raise BenchError(f"the exports store is not on local disk: {store!r}")
        path = store.path(ref.key)
        counts = done.counts
    finally:
        services.stop()
    return {
        "seconds": seconds,
        "base_mib": base,
        "file": str(path),
        "job_rows": counts.success,
        "job_failures": counts.failure,
        "phases": timer.seconds if not job["profile"] else {},
    }


def child_main(spec_path: str) -> int:
    job = json.loads(Path(spec_path).read_text())
    result = child_copy(job) if job["kind"] == "copy" else child_loadbay(job)
    result["hwm_mib"] = _status_mib("VmHWM")
    Path(job["result"]).write_text(json.dumps(result))
    return 0


# --- the parent ------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    kind: str  # copy | loadbay
    format: str
    rows: int  # expected
    seconds: float = 0.0
    base_mib: float = 0.0
    peak_mib: float = 0.0
    size: int = 0
    file: Path = Path()
    phases: dict[str, float] = field(default_factory=dict)
    job_rows: int | None = None

    @property
    def rows_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.base_mib


def spawn_child(job: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run one measurement in a new process; its result, with its peak RSS.

    The peak is the child's own VmHWM, read by itself at its end: ``ru_maxrss`` of a
    spawned child is no good here, since Linux carries the high-water mark of the memory
    it leaves at ``exec`` into it, and a ``posix_spawn`` (vfork) child leaves the
    parent's, so every child would report at least the parent's RSS."""
    spec = tmp / f"job-{time.monotonic_ns()}.json"
    job = {**job, "result": str(spec.with_suffix(".result.json"))}
    spec.write_text(json.dumps(job))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "bench.export_bench", "--child", str(spec)]
    pid = os.posix_spawn(sys.executable, argv, env)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise BenchError(f"child {job['kind']} {job.get('format', '')} exited {code}")
    result: dict[str, Any] = json.loads(Path(job["result"]).read_text())
    return result


def measure(
    run: Run, tmp: Path, target: str, columns: list[str], where: str, profile: str = ""
) -> Run:
    out_dir = Path(tempfile.mkdtemp(prefix=f"{run.kind}-", dir=tmp))
    job: dict[str, Any] = {"kind": run.kind, "target": target, "format": run.format}
    if run.kind == "copy":
        job |= {"columns": columns, "where": where, "out": str(out_dir / "copy.csv")}
    else:
        job |= {
            "data_dir": str(out_dir / "data"),
            "filters": FILTERS if where else {},
            "profile": profile,
        }
    result = spawn_child(job, tmp)
    run.seconds, run.base_mib, run.peak_mib = (
        result["seconds"],
        result["base_mib"],
        result["hwm_mib"],
    )
    run.file = Path(result["file"])
    run.size = run.file.stat().st_size
    run.phases = result["phases"]
    run.job_rows = result.get("job_rows")
    if run.job_rows is not None and run.job_rows != run.rows:
        raise BenchError(f"{run.name}: the job counts {run.job_rows} rows, expected {run.rows}")
    if profile:
        return run
    print(
        f"  {run.name}: {run.rows:,} rows in {run.seconds:.2f} s = {run.rows_s:,.0f} rows/s, "
        f"peak RSS {run.peak_mib:.1f} MiB (growth {run.growth_mib:+.1f}), "
        f"{run.size / MIB:.1f} MiB",
        flush=True,
    )
    return run


# --- checks ----------------------------------------------------------------------------


def csv_lines(path: Path) -> int:
    lines, last = 0, b""
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (1 if last not in (b"", b"\n") else 0)


def _copy_rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        yield from reader


def check_csv(run: Run, reference: Run, labels: list[str]) -> None:
    """Line count, header, and every row equal to the reference's (cells escaped)."""
    from loadbay.pipeline.report import spreadsheet_safe

    if (lines := csv_lines(run.file)) != run.rows + 1:
        raise BenchError(f"{run.name}: {lines} lines, expected {run.rows + 1}")
    with run.file.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        if (header := next(reader)) != labels:
            raise BenchError(f"{run.name}: header {header}, expected {labels}")
        for n, (mine, theirs) in enumerate(zip(reader, _copy_rows(reference.file), strict=True)):
            if mine != [spreadsheet_safe(v) for v in theirs]:
                raise BenchError(f"{run.name}: row {n + 1} is {mine}, COPY has {theirs}")


def _spelled(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def check_parquet(run: Run, reference: Run, columns: list[str]) -> None:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(run.file)
    if parquet.metadata.num_rows != run.rows:
        raise BenchError(f"{run.name}: num_rows {parquet.metadata.num_rows}, not {run.rows}")
    if parquet.schema_arrow.names != columns:
        raise BenchError(f"{run.name}: columns {parquet.schema_arrow.names}, not {columns}")
    theirs = _copy_rows(reference.file)
    n = 0
    for batch in parquet.iter_batches(batch_size=65_536):
        values = [column.to_pylist() for column in batch.columns]
        for row in zip(*values, strict=True):
            n += 1
            mine, copied = [_spelled(v) for v in row], next(theirs, None)
            if mine != copied:
                raise BenchError(f"{run.name}: row {n} is {mine}, COPY has {copied}")
    if next(theirs, None) is not None:
        raise BenchError(f"{run.name}: fewer rows than COPY")


# --- report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(runs: list[Run], copies: dict[tuple[int, bool], Run]) -> None:
    print()
    print(
        f"{'run':<26} | {'rows':>9} | {'s':>6} | {'rows/s':>9} | {'vs COPY':>7} | "
        f"{'peak MiB':>8} | {'base MiB':>8} | {'growth':>6} | {'file MiB':>8}"
    )
    print("-" * 114)
    for run in runs:
        copy = copies.get((run.rows, "filtered" in run.name))
        ratio = f"{run.rows_s / copy.rows_s:.2f}x" if copy and run.kind == "loadbay" else ""
        print(
            f"{run.name:<26} | {run.rows:>9,} | {run.seconds:>6.2f} | {run.rows_s:>9,.0f} | "
            f"{ratio:>7} | {run.peak_mib:>8.1f} | {run.base_mib:>8.1f} | "
            f"{run.growth_mib:>6.1f} | {run.size / MIB:>8.1f}"
        )
    print("\nwhere loadbay's export time goes (s; other = submit, job bookkeeping):")
    print(
        f"  {'run':<26} | {'count':>6} | {'read':>6} | {'format':>6} | {'store':>6} | "
        f"{'other':>6} | {'read+format per row':>19}"
    )
    for run in runs:
        if not run.phases:
            continue
        p = run.phases
        other = run.seconds - sum(p.values())
        per_row = (p["read"] + p["format"]) / run.rows * 1e6
        print(
            f"  {run.name:<26} | {p['count']:>6.2f} | {p['read']:>6.2f} | {p['format']:>6.2f} | "
            f"{p['store']:>6.2f} | {other:>6.2f} | {per_row:>14.2f} µs"
        )


def print_flatness(small: Run, large: Run) -> None:
    diff = large.peak_mib - small.peak_mib
    ok = abs(diff) <= max(FLAT_GOAL_MIB, FLAT_GOAL_SHARE * small.peak_mib)
    print(
        f"{large.format} peak RSS at {small.rows:,} rows {small.peak_mib:.1f} MiB (growth "
        f"{small.growth_mib:.1f}) vs {large.rows:,} rows {large.peak_mib:.1f} MiB (growth "
        f"{large.growth_mib:.1f}): {diff:+.1f} MiB for {large.rows / small.rows:.0f}x the rows "
        f"(goal: flat, within {FLAT_GOAL_MIB:.0f} MiB or {FLAT_GOAL_SHARE:.0%}) {verdict(ok)}"
    )


def print_profile(path: Path, title: str, most: int = 22) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(most)
    print(f"\n--- cProfile, {title}: the {most} functions with the most own time ---")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    for line in lines[max(0, start - 3) :]:
        if line.strip():
            print(line)


def run_bench(rows: int, repeat: int, profile: bool) -> int:
    small_rows = rows // 10
    expected = rows - rows // INVALID_EVERY
    dataset = user_dataset()
    columns = [c.key for c in dataset.columns]
    labels = [c.label for c in dataset.columns]
    runs: list[Run] = []
    copies: dict[tuple[int, bool], Run] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(
            stack.enter_context(
                tempfile.TemporaryDirectory(prefix="loadbay-export-", ignore_cleanup_errors=True)
            )
        )
        large_db = stack.enter_context(fresh_database(ADMIN_URL, "loadbay_export_tgt"))
        small_db = stack.enter_context(fresh_database(ADMIN_URL, "loadbay_export_small"))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} CPUs, load average {load} (other work skews the figures)")
        start = time.perf_counter()
        held = load_target(large_db, data_file(rows))
        held_small = load_target(small_db, data_file(small_rows))
        print(
            f"target: {held:,} users (of {rows:,}), and {held_small:,} (of {small_rows:,}), "
            f"loaded in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        if held != expected or held_small != small_rows - small_rows // INVALID_EVERY:
            raise BenchError(f"the target holds {held:,} users, expected {expected:,}")
        active = count_where(large_db, WHERE)

        def go(name: str, kind: str, fmt: str, n: int, db: str, where: str = "") -> Run:
            """The fastest of ``repeat`` runs, with the highest peak RSS of them."""
            tries = [measure(Run(name, kind, fmt, n), tmp, db, columns, where)]
            while len(tries) < repeat:
                tries.append(measure(Run(name, kind, fmt, n), tmp, db, columns, where))
            run = min(tries, key=lambda r: r.seconds)
            run.peak_mib = max(r.peak_mib for r in tries)
            run.base_mib = max(r.base_mib for r in tries)
            runs.append(run)
            if kind == "copy":
                copies[(n, bool(where))] = run
            return run

        # A warm-up read, so that the first measured run does not pay for a cold cache.
        measure(Run("warm-up", "copy", "csv", held), tmp, large_db, columns, "")
        print("measuring:", flush=True)
        copy = go("COPY csv", "copy", "csv", held, large_db)
        lb_csv = go("loadbay csv", "loadbay", "csv", held, large_db)
        lb_parquet = go("loadbay parquet", "loadbay", "parquet", held, large_db)
        copy_f = go("COPY csv filtered", "copy", "csv", active, large_db, WHERE)
        lb_f = go("loadbay csv filtered", "loadbay", "csv", active, large_db, WHERE)
        copy_s = go("COPY csv (small)", "copy", "csv", held_small, small_db)
        lb_csv_s = go("loadbay csv (small)", "loadbay", "csv", held_small, small_db)
        lb_parquet_s = go("loadbay parquet (small)", "loadbay", "parquet", held_small, small_db)

        for ref in (copy, copy_f, copy_s):
            if (lines := csv_lines(ref.file)) != ref.rows + 1:
                raise BenchError(f"{ref.name}: {lines} lines, expected {ref.rows + 1}")
        check_csv(lb_csv, copy, labels)
        check_csv(lb_f, copy_f, labels)
        check_csv(lb_csv_s, copy_s, labels)
        check_parquet(lb_parquet, copy, columns)
        check_parquet(lb_parquet_s, copy_s, columns)
        print(
            f"checked: every file has the rows the target holds ({held:,}; {active:,} "
            f"{WHERE}; {held_small:,}), each the same rows as COPY's, in the same order",
            flush=True,
        )

        print_table(runs, copies)
        print()
        for fmt_run in (lb_csv, lb_parquet):
            print(
                f"loadbay {fmt_run.format} vs COPY csv: {fmt_run.rows_s / copy.rows_s:.2f}x "
                f"the rows/s ({fmt_run.seconds:.2f} s vs {copy.seconds:.2f} s), "
                f"peak RSS {fmt_run.peak_mib:.1f} vs {copy.peak_mib:.1f} MiB"
            )
        print(f"filtered ({WHERE}): {lb_f.rows_s / copy_f.rows_s:.2f}x COPY's rows/s")
        print_flatness(lb_csv_s, lb_csv)
        print_flatness(lb_parquet_s, lb_parquet)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average at the end: {load}")

        if profile:
            for fmt in ("csv", "parquet"):
                stats = tmp / f"profile-{fmt}.pstats"
                run = Run(f"profiled {fmt}", "loadbay", fmt, held)
                measure(run, tmp, large_db, columns, "", profile=str(stats))
                print_profile(stats, f"loadbay {fmt}, {held:,} rows, {run.seconds:.1f} s profiled")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each measurement, the fastest kept"
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile loadbay's runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.repeat < 1:
        raise SystemExit("--repeat: at least 1")
    if args.rows <= 0 or args.rows % (10 * INVALID_EVERY):
        raise SystemExit(f"--rows: a positive multiple of {10 * INVALID_EVERY}")
    try:
        return run_bench(args.rows, args.repeat, args.profile)
    except (BenchError, psycopg.Error, OSError) as exc:
        print(f"BENCH BROKE: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
