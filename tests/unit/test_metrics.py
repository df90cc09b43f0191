"""The metrics objects, read back through their own registries."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from loadbay.observability import JobCount, Metrics


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def names(registry: CollectorRegistry) -> set[str]:
    return {metric.name for metric in registry.collect()}


def test_rows_are_counted_by_dataset_and_outcome() -> None:
    metrics = Metrics()
    metrics.rows_decided("user", success=8, failure=2)
    metrics.rows_decided("user", success=2, failure=0)
    metrics.rows_decided("location", success=0, failure=5)
    registry = metrics.registry
    assert sample(registry, "loadbay_rows_total", dataset="user", outcome="success") == 10
    assert sample(registry, "loadbay_rows_total", dataset="user", outcome="failure") == 2
    assert sample(registry, "loadbay_rows_total", dataset="location", outcome="failure") == 5
    assert sample(registry, "loadbay_rows_total", dataset="location", outcome="success") is None


def test_a_stage_is_timed_even_when_it_raises() -> None:
    metrics = Metrics()
    with metrics.time_stage("import", "inspect"):
        pass
    with pytest.raises(RuntimeError), metrics.time_stage("import", "inspect"):
        raise RuntimeError
    metrics.observe_stage("import", "write", 0.3)
    registry = metrics.registry
    labels = {"kind": "import", "stage": "inspect"}
    assert sample(registry, "loadbay_stage_duration_seconds_count", **labels) == 2
    assert sample(registry, "loadbay_stage_duration_seconds_sum", **labels) < 1  # type: ignore[operator]
    write = {"kind": "import", "stage": "write"}
    assert sample(registry, "loadbay_stage_duration_seconds_bucket", **write, le="0.25") == 0
    assert sample(registry, "loadbay_stage_duration_seconds_bucket", **write, le="0.5") == 1


def test_scan_verdicts_are_counted() -> None:
    metrics = Metrics()
    for verdict in ("clean", "clean", "infected"):
        metrics.scan_verdict(verdict)
    assert sample(metrics.registry, "loadbay_scan_verdicts_total", verdict="clean") == 2
    assert sample(metrics.registry, "loadbay_scan_verdicts_total", verdict="infected") == 1


def test_jobs_are_read_at_every_scrape_with_zeros_for_the_rest() -> None:
    metrics = Metrics()
    counts = [JobCount("import", "completed", 3)]
    calls: list[int] = []

    def read() -> list[JobCount]:
        calls.append(1)
        return counts

    metrics.watch_jobs(read)
    assert calls == [], "registering does not query"
    registry = metrics.registry
    assert sample(registry, "loadbay_jobs", kind="import", status="completed") == 3
    assert sample(registry, "loadbay_jobs", kind="import", status="scanning") == 0
    assert sample(registry, "loadbay_jobs", kind="export", status="failed") == 0
    counts = [JobCount("import", "completed", 4), JobCount("import", "received", 1)]
    assert sample(registry, "loadbay_jobs", kind="import", status="completed") == 4
    assert sample(registry, "loadbay_jobs", kind="import", status="received") == 1


def test_a_database_that_fails_empties_the_jobs_family_but_not_the_scrape() -> None:
    metrics = Metrics()

    def broken() -> list[JobCount]:
        raise ConnectionError("database down")

    metrics.watch_jobs(broken)
    metrics.rows_decided("user", 1, 0)
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["loadbay_jobs"].samples == []
    assert families["loadbay_rows"].samples[0].value == 1


def test_queue_depth_is_read_at_scrape_time_and_left_out_when_unknown() -> None:
    metrics = Metrics()
    depth: list[int | None] = [7]
    metrics.watch_queue("loadbay", lambda: depth[0])
    assert sample(metrics.registry, "loadbay_queue_depth", queue="loadbay") == 7
    depth[0] = None
    assert sample(metrics.registry, "loadbay_queue_depth", queue="loadbay") is None


def test_process_metrics_and_what_a_worker_serves() -> None:
    metrics = Metrics()
    metrics.watch_jobs(lambda: [])
    metrics.watch_queue("loadbay", lambda: 0)
    metrics.scan_verdict("skipped")
    everything = names(metrics.registry)
    assert {"process_cpu_seconds", "python_info", "python_gc_objects_collected"} <= everything
    assert {"loadbay_jobs", "loadbay_queue_depth", "loadbay_scan_verdicts"} <= everything
    own = names(metrics.process_registry)
    assert {"process_cpu_seconds", "loadbay_scan_verdicts", "loadbay_rows"} <= own
    # What is the same from every process is scraped from the API only.
    assert not {"loadbay_jobs", "loadbay_queue_depth"} & own
    assert sample(metrics.process_registry, "loadbay_scan_verdicts_total", verdict="skipped") == 1


def test_two_metrics_objects_are_independent() -> None:
    first, second = Metrics(), Metrics(process_collectors=False)
    first.rows_decided("user", 1, 0)
    assert sample(second.registry, "loadbay_rows_total", dataset="user", outcome="success") is None
    assert "process_cpu_seconds" not in names(second.registry)
