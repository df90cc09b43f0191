"""The Prometheus metrics of one loadbay process, on a registry of its own.

>>> metrics = Metrics()
>>> metrics.rows_decided("user", success=8, failure=2)
>>> with metrics.time_stage("import", "validate"):
...     pass
>>> metrics.scan_verdict("clean")
>>> b'loadbay_rows_total{dataset="user",outcome="success"} 8.0' in metrics.exposition()[0]
True

What this process counts (rows, stage durations, scan verdicts, the process itself)
is on :attr:`Metrics.process_registry`, which a ``loadbay worker`` serves on its own
port. :attr:`Metrics.registry` adds what is the same whichever process is asked — the
jobs by status and kind, the queue depth, read at scrape time — and is what the API's
``/metrics`` serves, so that those are scraped once, not once per worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.registry import Collector

from loadbay.observability.collectors import JobCount, JobsCollector, QueueDepthCollector

STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""Seconds: a stage takes from milliseconds (a small file's scan) to an hour (an import
of millions of rows)."""

__all__ = ["STAGE_BUCKETS", "Metrics"]


class Metrics:
    """Counters, a histogram and scrape-time gauges for an autoscaler and on-call.

    Built by the composition root; nothing is registered globally, so any number of
    them can live in one process (as tests do)."""

    def __init__(self, *, process_collectors: bool = True) -> None:
        self.process_registry = CollectorRegistry()
        self.registry = CollectorRegistry()
        own = self.process_registry
        self._rows = Counter(
            "loadbay_rows",
            "Rows decided by imports: written to the target (success) or not (failure).",
            ["dataset", "outcome"],
            registry=own,
        )
        self._stages = Histogram(
            "loadbay_stage_duration_seconds",
            "How long one stage of a job took, by job kind and stage.",
            ["kind", "stage"],
            buckets=STAGE_BUCKETS,
            registry=own,
        )
        self._verdicts = Counter(
            "loadbay_scan_verdicts",
            "Malware scan verdicts: clean, infected, too_large, skipped.",
            ["verdict"],
            registry=own,
        )
        collectors: list[Collector] = [self._rows, self._stages, self._verdicts]
        if process_collectors:
            collectors += [
                ProcessCollector(registry=own),
                PlatformCollector(registry=own),
                GCCollector(registry=own),
            ]
        for collector in collectors:
            self.registry.register(collector)

    def watch_jobs(self, counts: Callable[[], Iterable[JobCount]]) -> None:
        """Serve ``loadbay_jobs{kind, status}`` from ``counts``, called at every scrape
        (usually ``functools.partial(job_counts, engine)``)."""
        self.registry.register(JobsCollector(counts))

    def watch_queue(self, queue: str, depth: Callable[[], int | None]) -> None:
        """Serve ``loadbay_queue_depth{queue}`` from ``depth``, called at every scrape;
        ``None`` (the broker cannot say) leaves the sample out."""
        self.registry.register(QueueDepthCollector(queue, depth))

    def rows_decided(self, dataset: str, success: int, failure: int) -> None:
        """Count rows as they are decided (the runner: once a step's result is recorded,
        so that a step that runs again counts its rows once)."""
        if success:
            self._rows.labels(dataset, "success").inc(success)
        if failure:
            self._rows.labels(dataset, "failure").inc(failure)

    def observe_stage(self, kind: str, stage: str, seconds: float) -> None:
        self._stages.labels(kind, stage).observe(seconds)

    @contextmanager
    def time_stage(self, kind: str, stage: str) -> Iterator[None]:
        """Time the block as one run of ``stage``, whether it ends well or raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe_stage(kind, stage, time.perf_counter() - started)

    def scan_verdict(self, verdict: str) -> None:
        self._verdicts.labels(verdict).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of :attr:`registry` and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
