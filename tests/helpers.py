"""Helpers the integration and API tests share: files, imports, reports and target rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from loadbay.bootstrap import Services, build_services
from loadbay.domain.jobs import Job
from loadbay.domain.principals import Principal
from loadbay.executors.manual import ManualExecutor
from loadbay.storage.base import StoredRef
from tests.conftest import make_settings

ALICE = Principal("alice", "acme", frozenset({"user"}))


def csv_bytes(
    rows: Sequence[Sequence[str]], encoding: str = "utf-8", newline: str = "\r\n"
) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    return buffer.getvalue().encode(encoding)


@contextmanager
def running_services(
    tmp_path: Path,
    database_urls: tuple[str, str],
    scanner: Any = "configured",
    scanner_settings: dict[str, Any] | None = None,
    **sections: dict[str, Any],
) -> Iterator[Services]:
    """Services on a fresh data directory, with the manual executor, started and stopped."""
    if scanner_settings:
        sections["scanner"] = scanner_settings
    built = build_services(
        make_settings(tmp_path / "data", database_urls, **sections),
        executor_backend="manual",
        scanner=scanner,
    )
    built.start()
    try:
        yield built
    finally:
        built.stop()


def submit(
    services: Services,
    dataset: str,
    data: bytes,
    principal: Principal = ALICE,
    file_name: str = "upload.csv",
) -> Job:
    """Store ``data`` as an upload and record the job, as the API does."""
    upload = services.imports.new_upload()
    with upload.receiving():
        upload.write(data)
    return services.imports.submit(principal, upload, dataset, file_name)


def run_import(services: Services, dataset: str, data: bytes, principal: Principal = ALICE) -> Job:
    """Submit and run an import to its end with the manual executor."""
    job = submit(services, dataset, data, principal)
    executor = services.executor
    assert isinstance(executor, ManualExecutor)
    executor.run_pending()
    finished = services.job_repository.get(job.id)
    assert finished is not None
    return finished


def report_rows(services: Services, job_id: str) -> list[list[str]]:
    """The job's result file, parsed (header first)."""
    _, encrypted = services.job_repository.refs(job_id)
    assert encrypted is not None
    ref = StoredRef.from_json(services.keys.decrypt(encrypted))
    with services.stores.for_ref(ref).open_read(ref.key) as handle:
        raw = handle.read()
    assert raw.endswith(b"\r\n"), "the report ends with CRLF"
    return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


def target_rows(services: Services, table: str, order_by: str) -> list[dict[str, Any]]:
    with services.target_engine.connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {table} ORDER BY {order_by}"))
        return [dict(row) for row in result.mappings()]


def objects(services: Services, store: str) -> dict[str, bytes]:
    """Every object of one of the service's stores, by key."""
    holder = services.stores[store]
    found = {}
    for key in holder.list_keys():
        with holder.open_read(key) as handle:
            found[key] = handle.read()
    return found


def table_count(services: Services, table: str) -> int:
    from sqlalchemy import inspect

    if not inspect(services.target_engine).has_table(table):
        return 0
    with services.target_engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
