"""Readiness checks: run together, bounded in time, with short reasons."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from loadbay.observability.readiness import (
    Readiness,
    database_check,
    reason,
    service_readiness,
    store_check,
)
from loadbay.storage.local import LocalStore
from loadbay.storage.memory import MemoryStore


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets the hanging checks of a test end once it is over."""
    event = threading.Event()
    yield event
    event.set()


def test_all_ok() -> None:
    report = Readiness({"a": lambda: None, "b": lambda: None}).check()
    assert report.ready
    assert report.checks == {"a": "ok", "b": "ok"}


def test_a_failing_check_is_named_with_its_reason() -> None:
    def broken() -> None:
        raise OSError("connection refused")

    report = Readiness({"database": lambda: None, "broker": broken}).check()
    assert not report.ready
    assert report.checks == {
        "database": "ok",
        "broker": "unavailable: OSError: connection refused",
    }


def test_a_hanging_check_answers_within_the_timeout(release: threading.Event) -> None:
    readiness = Readiness({"slow": lambda: release.wait(), "fast": lambda: None}, timeout=0.3)
    started = time.monotonic()
    report = readiness.check()
    assert time.monotonic() - started < 1
    assert report.checks == {"slow": "unavailable: no answer within 0.3s", "fast": "ok"}
    # While it still hangs, the next probe does not pile another thread on it.
    again = readiness.check()
    assert again.checks["slow"] == "unavailable: the previous check has not answered yet"
    release.set()
    time.sleep(0.1)
    assert readiness.check().ready


def test_checks_run_in_parallel() -> None:
    def slow() -> None:
        time.sleep(0.2)

    readiness = Readiness({f"c{i}": slow for i in range(5)}, timeout=2)
    started = time.monotonic()
    assert readiness.check().ready
    assert time.monotonic() - started < 0.8


def test_reasons_are_short_single_lines_without_passwords() -> None:
    error = ConnectionError("amqp://guest:s3cret@broker:5672// refused\nmore detail")
    assert reason(error) == "ConnectionError: amqp://guest:***@broker:5672// refused"
    assert reason(TimeoutError()) == "TimeoutError"
    assert len(reason(ValueError("x" * 1000))) <= 160


def test_a_store_answers_even_when_the_probe_object_does_not_exist(tmp_path: Path) -> None:
    store_check(MemoryStore("box"))()
    store_check(LocalStore(tmp_path / "store"))()


def test_a_local_store_whose_folder_became_a_file_is_unavailable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store").rmdir()
    (tmp_path / "store").write_text("not a folder")
    with pytest.raises(NotADirectoryError):
        store_check(store)()


def test_service_readiness_names_its_checks(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database_check(engine)()
    readiness = service_readiness(engine, {"incoming": MemoryStore("in")})
    assert readiness.names == ["database", "stores.incoming"]
    with_broker = service_readiness(engine, {}, broker=("redis://127.0.0.1:1/0", "q"))
    assert with_broker.names == ["database", "broker"]
    report = with_broker.check()
    assert report.checks["database"] == "ok"
    assert report.checks["broker"].startswith("unavailable: ")
    engine.dispose()
