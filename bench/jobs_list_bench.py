"""Job list benchmark: ``JobRepository.list_visible`` over 1,000,000 jobs in PostgreSQL,
with the job list indexes of migration 0005 against the same data without them.

A fresh database (dropped at the end) is migrated to head and loaded with ``COPY``:
jobs spread as a real service's are (seeded) — tenants of very different sizes, a few
busy owners (integrations) among many occasional ones, mostly imports, mostly completed,
a few rare statuses, three big datasets and a tail of small custom ones, two years of
``created_at`` growing towards today, ids ULIDs of their creation time, and rows as wide
as real ones (encrypted storage references). Each typical call (a user's first page, a
tenant admin's and the root admin's, each filter, a page deep behind a cursor, a rare
status) is timed: median and p95 of repeated calls after a warm-up, with the indexes its
plan uses (EXPLAIN). Then migration 0005's indexes are dropped (as its downgrade does), the table
ANALYZEd and every call timed again: the reference, in the same run. Last, the indexes
are created again (as its upgrade does), timed: what the migration costs on that many jobs.

Goal, reported PASS/MISS: every call's p95 under 20 ms with the indexes. The exit status
is non-zero only when something broke (no PostgreSQL, a call returning the wrong jobs).

Rerun: ``make bench``, or ``.venv/bin/python -m bench.jobs_list_bench [--jobs 100000]``
(``LOADBAY_BENCH_POSTGRES`` names the server, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import polars as pl
import psycopg
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from bench._common import BenchError
from bench.pg_copy_reference import ADMIN_URL, fresh_database
from loadbay.db.engine import make_engine
from loadbay.db.jobs import JobFilter, JobRepository
from loadbay.db.migrate import upgrade_to_head
from loadbay.domain.ids import _ALPHABET
from loadbay.domain.jobs import Job, JobKind, JobStatus
from loadbay.domain.principals import Principal
from loadbay.observability.collectors import job_counts

JOBS = 1_000_000
SEED = 20261122
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
TENANTS = 25
KINDS = {"import": 72, "export": 20, "transfer": 6, "batch": 2}
STATUSES = {"completed": 860, "failed": 70, "cancelled": 50, "quarantined": 2}
ACTIVE = {"received": 1, "scanning": 1, "processing": 3}  # only among the newest jobs
DATASETS = {"user": 45, "organisation": 22, "location": 13} | {
    f"custom_{i:02d}": 40 // (i + 1) for i in range(20)
}
REPEATS, MIN_REPEATS, BUDGET_S = 30, 5, 3.0
GOAL_P95_MS = 20.0
USER, ADMIN = frozenset({"user"}), frozenset({"admin"})


# --- the jobs ------------------------------------------------------------------------------


def weighted(weights: dict[str, int], n: int, seed: int) -> pl.Series:
    pool = pl.Series([value for value, weight in weights.items() for _ in range(weight)])
    return pool.sample(n, with_replacement=True, seed=seed)


def uniform(n: int, seed: int) -> pl.Series:
    """``n`` numbers in [0, 1)."""
    return pl.int_range(0, 1 << 20, eager=True).sample(n, with_replacement=True, seed=seed) / (
        1 << 20
    )


def ulids(created_us: pl.Series, seed: int) -> pl.Series:
    """ULIDs of these creation times (microseconds): the millisecond, then 80 random bits."""
    ms = created_us // 1000
    alphabet = dict(enumerate(_ALPHABET))
    time_part = [((ms // 32 ** (9 - k)) % 32).replace_strict(alphabet) for k in range(10)]
    chars = pl.Series(list(_ALPHABET))
    random_part = [chars.sample(len(ms), with_replacement=True, seed=seed + k) for k in range(16)]
    parts = [part.alias(f"c{k}") for k, part in enumerate([*time_part, *random_part])]
    return pl.DataFrame(parts).select(pl.concat_str(pl.all()).alias("id")).to_series()


def core_jobs(n: int) -> pl.DataFrame:
    """What the list filters on, one row per job, oldest first."""
    start_us = int((NOW - SPAN).timestamp() * 1_000_000)
    span_us = int(SPAN.total_seconds() * 1_000_000)
    growth = uniform(n, SEED).sqrt().sort()  # more jobs every month
    created = (growth * span_us).cast(pl.Int64) + start_us
    sizes = {f"t{i:02d}": 1000 // (i + 1) for i in range(TENANTS)}  # zipf-like tenants
    kinds = weighted(KINDS, n, SEED + 1)
    jobs = pl.DataFrame(
        {
            "id": ulids(created, SEED + 100),
            "created_us": created,
            "tenant": weighted(sizes, n, SEED + 2),
            "kind": kinds,
            "status": weighted(STATUSES, n, SEED + 3),
            "dataset": weighted(DATASETS, n, SEED + 4),
            "u": uniform(n, SEED + 5),
        }
    )
    active = weighted(ACTIVE, n, SEED + 6)
    return (
        jobs.with_columns(
            # Owners per tenant grow with its size; u**3 makes a few of them busy.
            owner=pl.format(
                "{}-u{}",
                "tenant",
                (
                    pl.col("u").pow(3) * (pl.col("tenant").str.slice(1).cast(pl.Int64) * -40 + 1000)
                ).cast(pl.Int64),
            ),
            dataset=pl.when(pl.col("kind") == "transfer").then(None).otherwise("dataset"),
            status=pl.when(pl.int_range(pl.len()) >= n - 500).then(active).otherwise("status"),
        )
        .drop("u")
        .sort("id")
    )


def wide_rows(core: pl.DataFrame) -> pl.DataFrame:
    """The jobs table's columns in full, as wide as real rows."""
    created = pl.from_epoch("created_us", time_unit="us").dt.replace_time_zone("UTC")
    blob = pl.concat_str([pl.col("id").hash(seed=k).cast(pl.String) for k in range(11)])
    completed = pl.col("status") == "completed"
    imports = pl.col("kind") == "import"
    size = pl.col("id").hash(seed=99) % 50_000_000
    rows = size // 120
    return core.select(
        "id", "kind", "status", "owner", "tenant", "dataset",
        file_name=pl.when(imports).then(pl.format("{}_upload.csv", "dataset")),
        file_size=size,
        processed=rows, total=rows, success=(rows * 49) // 50, failure=rows // 50,
        error_code=pl.when(pl.col("status") == "failed").then(pl.lit("malformed_csv")),
        error_message=pl.when(pl.col("status") == "failed").then(pl.lit("An unclosed quote")),
        source_ref=blob, result_ref=pl.when(completed).then(blob.str.reverse()),
        attempts=pl.lit(1),
        created_at=created, started_at=created + pl.duration(seconds=1),
        finished_at=pl.when(completed).then(created + pl.duration(seconds=40)),
        scan_verdict=pl.when(imports).then(pl.lit("clean")),
        scan_signature=pl.lit(None, dtype=pl.String),
        scan_engine=pl.when(imports).then(pl.lit("ClamAV 1.4.6/27460/Sun Nov 22 06:00:00 2026")),
        scanned_at=pl.when(imports).then(created + pl.duration(seconds=1)),
    )  # fmt: skip


def load(url: str, core: pl.DataFrame, chunk: int = 100_000) -> float:
    """COPY every job into ``jobs``; returns the seconds it took."""
    start = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        columns = wide_rows(core.head(1)).columns
        with cursor.copy(f"COPY jobs ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
            for offset in range(0, core.height, chunk):
                buffer = io.BytesIO()
                wide_rows(core.slice(offset, chunk)).write_csv(buffer, include_header=False)
                copy.write(buffer.getbuffer())
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) jobs")
    return time.perf_counter() - start


# --- the calls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    viewer: Principal
    filters: JobFilter = field(default_factory=JobFilter)
    before_id: str | None = None
    limit: int = 50


def calls(core: pl.DataFrame) -> list[Call]:
    """The typical calls, with parameters read off the generated jobs."""
    by_owner = core.group_by("tenant", "owner").len().sort("len", descending=True)
    big = core.group_by("tenant").len().sort("len", descending=True)["tenant"]
    tenant, small = big[0], big[-1]
    busy = by_owner.row(0, named=True)
    typical = by_owner.filter(pl.col("tenant") == tenant).row(200, named=True)
    mine = core.filter(pl.col("tenant") == tenant)["id"]
    rare = core.group_by("dataset").len().drop_nulls().sort("len")["dataset"][0]
    month_ago = NOW - timedelta(days=365)
    window = JobFilter(created_after=month_ago - timedelta(days=30), created_before=month_ago)
    user = Principal(typical["owner"], tenant, USER)
    busy_user = Principal(busy["owner"], busy["tenant"], USER)
    admin, root = Principal("admin", tenant, ADMIN), Principal("root", "", ADMIN)
    failed = JobFilter(status=JobStatus.FAILED)
    quarantined = JobFilter(status=JobStatus.QUARANTINED)
    running = JobFilter(status=JobStatus.PROCESSING)  # fewer than a page, all recent
    recent = JobFilter(created_after=NOW - timedelta(days=7))
    common = JobFilter(JobKind.IMPORT, JobStatus.COMPLETED, "user")
    return [
        Call(f"user ({typical['len']} jobs), first page", user),
        Call("user, status=failed", user, failed),
        Call(f"busy user ({busy['len']:,} jobs), first page", busy_user),
        Call("busy user, status=quarantined", busy_user, quarantined),
        Call("busy user, created a month a year ago", busy_user, window),
        Call("busy user, cursor half-way", busy_user, before_id=_middle(core, busy)),
        Call(f"tenant admin ({len(mine):,} jobs), first page", admin),
        Call("tenant admin, kind=transfer", admin, JobFilter(kind=JobKind.TRANSFER)),
        Call("tenant admin, status=failed", admin, failed),
        Call("tenant admin, status=quarantined", admin, quarantined),
        Call("tenant admin, status=processing (running now)", admin, running),
        Call(f"tenant admin, dataset={rare}", admin, JobFilter(dataset=rare)),
        Call("tenant admin, created last 7 days", admin, recent),
        Call("tenant admin, created a month a year ago", admin, window),
        Call("tenant admin, cursor half-way", admin, before_id=mine[len(mine) // 2]),
        Call("tenant admin, import+completed+user", admin, common),
        Call("small tenant admin, first page", Principal("admin", small, ADMIN)),
        Call("root admin, first page", root),
        Call("root admin, kind=batch", root, JobFilter(kind=JobKind.BATCH)),
        Call("root admin, status=quarantined", root, quarantined),
        Call("root admin, status=processing (running now)", root, running),
        Call(f"root admin, dataset={rare}", root, JobFilter(dataset=rare)),
        Call("root admin, created a month a year ago", root, window),
        Call("root admin, cursor half-way", root, before_id=core["id"][core.height // 2]),
        Call("root admin, limit 500", root, limit=500),
    ]  # fmt: skip


def _middle(core: pl.DataFrame, owner: dict[str, Any]) -> str:
    ids = core.filter((pl.col("tenant") == owner["tenant"]) & (pl.col("owner") == owner["owner"]))
    return str(ids["id"][ids.height // 2])


def expected(core: pl.DataFrame, call: Call) -> list[str]:
    """The ids ``call`` must return, computed by polars from the generated jobs."""
    viewer, f = call.viewer, call.filters
    query = core.lazy()
    if not viewer.sees_every_tenant:
        query = query.filter(pl.col("tenant") == viewer.tenant)
        if not viewer.is_admin:
            query = query.filter(pl.col("owner") == viewer.user)
    for column, value in (("kind", f.kind), ("status", f.status), ("dataset", f.dataset)):
        if value:
            query = query.filter(pl.col(column) == str(value))
    if f.created_after:
        query = query.filter(pl.col("created_us") > int(f.created_after.timestamp() * 1e6))
    if f.created_before:
        query = query.filter(pl.col("created_us") < int(f.created_before.timestamp() * 1e6))
    if call.before_id:
        query = query.filter(pl.col("id") < call.before_id)
    return query.sort("id", descending=True).head(call.limit).collect()["id"].to_list()


# --- timing --------------------------------------------------------------------------------


@dataclass
class Timing:
    median_ms: float
    p95_ms: float
    indexes: str


@dataclass
class Row:
    call: Call
    returned: int
    timings: dict[str, Timing] = field(default_factory=dict)


class StatementLog:
    """The last statement the engine sent, to EXPLAIN it exactly as it ran."""

    def __init__(self, engine: Engine) -> None:
        self.last: tuple[str, Any] = ("", None)
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.last = (statement, parameters)


def plan_of(engine: Engine, statement: str, parameters: Any) -> str:
    """The indexes (or sequential scans) of the plan, and whether it sorts."""
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
        root = plan.scalar_one()[0]["Plan"]
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.append(node["Index Name"].removeprefix("ix_jobs_"))
        elif node["Node Type"] in ("Seq Scan", "Sort"):
            found.append(node["Node Type"].lower())
        for child in node.get("Plans", []):
            walk(child)

    walk(root)
    return " + ".join(dict.fromkeys(found))


def timed(run: Callable[[], object]) -> list[float]:
    """Seconds per call after two warm-up calls: REPEATS of them, or fewer (at least
    MIN_REPEATS) when they take more than BUDGET_S in all."""
    run()
    run()
    samples: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(samples) < REPEATS and (len(samples) < MIN_REPEATS or time.perf_counter() < deadline):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return samples


def measure(engine: Engine, core: pl.DataFrame, rows: list[Row], label: str) -> None:
    repository, log = JobRepository(engine), StatementLog(engine)
    for row in rows:
        call = row.call

        def run(call: Call = call) -> list[Job]:
            return repository.list_visible(call.viewer, call.filters, call.limit, call.before_id)

        got = [job.id for job in run()]
        statement = log.last
        want = expected(core, call)
        if got != want:
            raise BenchError(f"{call.name}: {len(got)} jobs, not the {len(want)} expected")
        samples = sorted(timed(run))
        p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1]
        row.returned = len(got)
        row.timings[label] = Timing(
            statistics.median(samples) * 1000, p95 * 1000, plan_of(engine, *statement)
        )
        t = row.timings[label]
        print(f"  {label:>7}: {call.name}: {t.median_ms:.2f} ms ({t.indexes})", flush=True)
    event.remove(engine, "before_cursor_execute", log._record)


def scrape_timing(engine: Engine) -> Timing:
    """What ``loadbay_jobs`` costs the database at every scrape of ``/metrics``."""
    samples = timed(lambda: job_counts(engine))
    return Timing(
        statistics.median(samples) * 1000,
        statistics.quantiles(samples, n=20, method="inclusive")[-1] * 1000,
        "",
    )


def job_list_indexes(engine: Engine, drop: bool) -> float:
    """Drop (or create again) migration 0005's indexes as its downgrade (upgrade) does,
    leaving later revisions in place; returns the seconds it took. (An Alembic
    downgrade to 0004 would also undo every later revision, whose columns the
    repository reads.)"""
    path = resources.files("loadbay.db") / "migrations" / "versions" / "0005_job_list_indexes.py"
    spec = importlib.util.spec_from_file_location("migration_0005", str(path))
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    indexes: dict[str, list[str]] = migration.INDEXES
    start = time.perf_counter()
    with engine.begin() as connection:
        for name, columns in indexes.items():
            if drop:
                connection.execute(text(f'DROP INDEX "{name}"'))
            else:
                quoted = ", ".join(f'"{c}"' for c in columns)
                connection.execute(text(f'CREATE INDEX "{name}" ON jobs ({quoted})'))
    return time.perf_counter() - start


def analyze(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("ANALYZE jobs"))


# --- the report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(rows: list[Row]) -> None:
    width = max(len(r.call.name) for r in rows)
    print()
    print(
        f"{'call':<{width}} | {'jobs':>4} | {'median ms':>9} | {'p95 ms (<20)':>12} | "
        f"{'no-index median':>15} | {'no-index p95':>12} | {'faster':>7} | plan with / without"
    )
    print("-" * (width + 110))
    for r in rows:
        with_, without = r.timings["with"], r.timings["without"]
        ratio = without.median_ms / with_.median_ms
        print(
            f"{r.call.name:<{width}} | {r.returned:>4} | {with_.median_ms:>9.2f} | "
            f"{with_.p95_ms:>7.2f} {verdict(with_.p95_ms < GOAL_P95_MS)} | "
            f"{without.median_ms:>15.2f} | {without.p95_ms:>12.2f} | {ratio:>6.1f}x | "
            f"{with_.indexes} / {without.indexes}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"how many jobs (default {JOBS:,})")
    jobs = parser.parse_args(argv).jobs
    if jobs < 10_000:
        raise SystemExit("--jobs: at least 10000")
    print(f"generating {jobs:,} jobs ...", flush=True)
    core = core_jobs(jobs)
    rows = [Row(call, 0) for call in calls(core)]
    try:
        with fresh_database(ADMIN_URL, "loadbay_jobs_bench") as url:
            engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            try:
                upgrade_to_head(engine)
                print(f"COPY of {jobs:,} jobs (and VACUUM ANALYZE): {load(url, core):.1f} s")
                measure(engine, core, rows, "with")
                scrape = scrape_timing(engine)
                dropped = job_list_indexes(engine, drop=True)
                analyze(engine)
                measure(engine, core, rows, "without")
                created = job_list_indexes(engine, drop=False)
            finally:
                engine.dispose()
    except (BenchError, psycopg.Error, SQLAlchemyError) as exc:
        print(f"BENCH BROKE: {exc}", file=sys.stderr)
        return 1
    print_table(rows)
    print(
        f"loadbay_jobs at each /metrics scrape (job_counts: one GROUP BY status, kind over "
        f"{jobs:,} jobs): median {scrape.median_ms:.1f} ms, p95 {scrape.p95_ms:.1f} ms"
    )
    print(
        f"migration 0005 on {jobs:,} jobs: upgrade (creates the indexes) {created:.1f} s, "
        f"downgrade (drops them) {dropped:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
