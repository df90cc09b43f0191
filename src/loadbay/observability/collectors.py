"""Gauges read at scrape time: jobs by kind and status, and the depth of the job queue.

>>> collector = JobsCollector(lambda: [JobCount("import", "completed", 3)])
>>> family = next(iter(collector.collect()))
>>> [s.value for s in family.samples if s.labels == {"kind": "import", "status": "completed"}]
[3]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from loadbay.db.tables import jobs
from loadbay.domain.jobs import JobKind, JobStatus

log = logging.getLogger(__name__)


class JobCount(NamedTuple):
    kind: str
    status: str
    jobs: int


def job_counts(engine: Engine) -> list[JobCount]:
    """How many jobs there are of each kind in each status: one grouped query, read
    from the ``(status, kind)`` index alone."""
    query = select(jobs.c.kind, jobs.c.status, func.count()).group_by(jobs.c.status, jobs.c.kind)
    with engine.connect() as connection:
        return [JobCount(kind, status, count) for kind, status, count in connection.execute(query)]


def _jobs_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "loadbay_jobs",
        "Jobs in the service database by kind and status.",
        labels=["kind", "status"],
    )


class JobsCollector(Collector):
    """``loadbay_jobs{kind, status}``; every known kind and status is present, at 0 when
    there is no such job, so that an alert on e.g. ``status="scanning"`` always has a
    series. A database that does not answer leaves the family empty (and is logged);
    ``/readyz`` is where that shows."""

    def __init__(self, counts: Callable[[], Iterable[JobCount]]) -> None:
        self._counts = counts

    def describe(self) -> Iterable[Metric]:
        # Without this the registry would call collect(), and so query, on register.
        return [_jobs_family()]

    def collect(self) -> Iterator[Metric]:
        family = _jobs_family()
        try:
            found = {(c.kind, c.status): c.jobs for c in self._counts()}
        except Exception:
            log.warning("metrics: the jobs could not be counted", exc_info=True)
            yield family
            return
        totals = {(k.value, s.value): 0 for k in JobKind for s in JobStatus}
        totals.update(found)
        for (kind, status), count in sorted(totals.items()):
            family.add_metric([kind, status], count)
        yield family


def _queue_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "loadbay_queue_depth",
        "Job steps waiting in the executor's queue (not yet taken by a worker).",
        labels=["queue"],
    )


class QueueDepthCollector(Collector):
    """``loadbay_queue_depth{queue}`` from a callable; ``None`` leaves the sample out."""

    def __init__(self, queue: str, depth: Callable[[], int | None]) -> None:
        self._queue = queue
        self._depth = depth

    def describe(self) -> Iterable[Metric]:
        return [_queue_family()]

    def collect(self) -> Iterator[Metric]:
        family = _queue_family()
        try:
            depth = self._depth()
        except Exception:
            log.warning("metrics: the queue depth could not be read", exc_info=True)
            depth = None
        if depth is not None:
            family.add_metric([self._queue], depth)
        yield family
