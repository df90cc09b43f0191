"""A file cut into chunks imports exactly as it does in one piece.

Each file is imported twice on fresh services: once with chunks of 1 KiB (the least
``chunk_bytes`` allows) and small batches, once in one piece. The report (bytes), the
counts and the target rows must be the same, and both must match what the rules say
row by row (an oracle computed here): a repeated key fails on its later rows, a
reference to an earlier successful row of the file holds whatever chunk either row
is in, a reference to a later or failed row does not.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from loadbay.bootstrap import Services
from loadbay.domain.jobs import JobStatus
from loadbay.domain.steps import ImportPhase
from tests.helpers import csv_bytes, report_rows, run_import, running_services, target_rows

pytestmark = pytest.mark.db

LOCATION_HEADER = ["Location Code", "Location Name", "Location Type", "Parent Location Code"]
TYPES = ["state", "district", "block", "cluster"]
CHUNKED = {"chunk_bytes": 1024, "batch_rows": 10}
WHOLE = {"chunk_bytes": 1 << 30, "batch_rows": 10}


@dataclass(frozen=True)
class Imported:
    status: JobStatus
    counts: tuple[int, int]
    report: list[list[str]]
    rows: list[dict[str, object]]
    steps: list[str]  # the names of the steps that ran, in order
    metered: tuple[float, float]  # loadbay_rows_total: success, failure


def _import(
    tmp_path: Path,
    database_urls: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
    dataset: str,
    data: bytes,
    executor: dict[str, int],
    table: str,
    key: str,
) -> Imported:
    caplog.clear()
    with (
        caplog.at_level(logging.INFO, logger="loadbay.pipeline.runner"),
        running_services(tmp_path, database_urls, executor=executor) as services,
    ):
        with services.target_engine.begin() as connection:  # each import starts empty
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        job = run_import(services, dataset, data)
        steps = [
            m.group(1)
            for r in caplog.records
            if (m := re.match(rf"job {job.id} step (\S+) done", r.getMessage()))
        ]
        return Imported(
            job.status,
            (job.counts.success, job.counts.failure),
            report_rows(services, job.id) if job.result_available else [],
            target_rows(services, table, key),
            steps,
            tuple(  # type: ignore[arg-type]
                services.metrics.process_registry.get_sample_value(
                    "loadbay_rows_total", {"dataset": dataset, "outcome": outcome}
                )
                or 0
                for outcome in ("success", "failure")
            ),
        )


def _phase_steps(imported: Imported, phase: ImportPhase) -> list[str]:
    return [s for s in imported.steps if s.startswith(phase.name.lower() + "/")]


def _location_file(seed: int, rows: int) -> tuple[bytes, dict[str, str]]:
    """A location file full of what chunking could get wrong, and the expected error
    (``""``: success) of each row by its position."""
    rng = random.Random(seed)
    lines: list[list[str]] = [LOCATION_HEADER]
    succeeded: set[str] = set()
    seen: set[str] = set()
    expected: dict[str, str] = {}
    for i in range(rows):
        code = f"L{i:05d}"
        roll = rng.random()
        if roll < 0.08 and seen:
            code = rng.choice(sorted(seen))  # a repeated key, often chunks away
        name = rng.choice(
            [
                f"Place {i}",
                f'Quoted "{i}", with a comma',
                f"Two\nlines {i}",  # a record boundary that is not a line boundary
                f"Three\r\nlines\n{i}",
                "x" * rng.randint(50, 190),
            ]
        )
        kind = rng.choice(TYPES) if rng.random() > 0.05 else "city"
        parent_roll = rng.random()
        if parent_roll < 0.35 or not seen:
            parent = ""
        elif parent_roll < 0.85:
            parent = rng.choice(sorted(seen))  # an earlier row, maybe failed
        elif parent_roll < 0.95:
            parent = f"L{min(i + rng.randint(1, 300), rows - 1):05d}"  # a later row
        else:
            parent = "NOWHERE"
        errors = []
        if code in seen:
            errors.append("duplicate")
        if kind == "city":
            errors.append("type")
        if parent and parent not in succeeded:
            errors.append("parent")
        expected[f"{i}"] = ",".join(errors)
        if not errors:
            succeeded.add(code)
        seen.add(code)
        lines.append([code, name, kind, parent])
    return csv_bytes(lines), expected


def _check_against_rules(imported: Imported, expected: dict[str, str]) -> None:
    body = imported.report[1:]
    assert len(body) == len(expected), "every row in the report exactly once"
    failures = sum(1 for e in expected.values() if e)
    assert imported.counts == (len(expected) - failures, failures)
    assert sum(1 for r in body if r[-2] == "Success") == len(expected) - failures
    assert all(r[-1] == "" for r in body if r[-2] == "Success")


def test_a_location_file_in_chunks_matches_the_rules_and_the_whole_file(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    data, expected = _location_file(seed=5, rows=700)
    args = ("location", data)
    chunked = _import(tmp_path / "c", database_urls, caplog, *args, CHUNKED, "locations", "code")
    whole = _import(tmp_path / "w", database_urls, caplog, *args, WHOLE, "locations", "code")
    assert len(_phase_steps(chunked, ImportPhase.PARSE)) >= 10, chunked.steps
    assert len(_phase_steps(whole, ImportPhase.PARSE)) == 1, whole.steps
    assert chunked.steps.count("index") == 1, "every cut fell between records"
    assert chunked.status is whole.status is JobStatus.COMPLETED
    assert chunked.counts == whole.counts
    assert chunked.metered == chunked.counts, "the rows metric counts each row once"
    assert chunked.report == whole.report, "the same report, byte for byte"
    assert chunked.rows == whole.rows
    _check_against_rules(chunked, expected)
    successes = sum(1 for e in expected.values() if not e)
    assert len(chunked.rows) == successes


def test_each_row_gets_the_error_the_rules_give_it(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Row by row, in chunks: position n of the file is report row n among its kind."""
    data, expected = _location_file(seed=11, rows=500)
    chunked = _import(
        tmp_path, database_urls, caplog, "location", data, CHUNKED, "locations", "code"
    )
    assert len(_phase_steps(chunked, ImportPhase.DECIDE)) >= 10
    body = chunked.report[1:]
    wanted_success = [p for p, e in expected.items() if not e]
    wanted_failure = [(p, e) for p, e in expected.items() if e]
    # The report lists successes, then failures, each in upload order.
    got_success = [r for r in body if r[-2] == "Success"]
    got_failure = [r for r in body if r[-2] != "Success"]
    assert body == got_success + got_failure
    assert len(got_success) == len(wanted_success)
    assert len(got_failure) == len(wanted_failure)
    phrases = {
        "duplicate": "Location Code: duplicate of row",
        "type": 'Location Type: "city" is not one of',
        "parent": "Parent Location Code:",
    }
    for row, (_, errors) in zip(got_failure, wanted_failure, strict=True):
        message = row[-1]
        for error in errors.split(","):
            assert phrases[error] in message, (row, errors)
        assert len(message.split("; ")) == len(errors.split(",")), (row, errors)


def _user_file(rows: int) -> bytes:
    header = ["External ID", "First Name", "Last Name", "Email", "Date of Birth"]
    lines: list[list[str]] = [header]
    for i in range(rows):
        key = f"U{i:05d}" if i % 97 else f"U{i // 2:05d}"  # some keys come back later
        last = f'Mc"Line\n{i}' if i % 5 == 0 else "Smith"
        email = f"u{i}@example.org" if i % 13 else "not-an-email"
        lines.append([key, f"N{i}", last, email, "1990-01-01" if i % 3 else ""])
    return csv_bytes(lines)


def test_a_user_file_in_chunks_matches_the_whole_file(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    data = _user_file(1000)
    args = ("user", data)
    chunked = _import(tmp_path / "c", database_urls, caplog, *args, CHUNKED, "users", "external_id")
    whole = _import(tmp_path / "w", database_urls, caplog, *args, WHOLE, "users", "external_id")
    assert len(_phase_steps(chunked, ImportPhase.PARSE)) >= 15
    assert chunked.counts == whole.counts
    assert sum(chunked.counts) == 1000
    assert chunked.report == whole.report
    assert chunked.rows == whole.rows
    ids = [r[0] for r in chunked.report[1:]]
    assert len(ids) == 1000


def test_a_quoted_field_longer_than_a_chunk_is_never_cut(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A quoted field spanning several chunks' worth of bytes, made of lines that look
    like records: the cuts fall around it."""
    header = ["External ID", "First Name", "Last Name", "Email"]
    # ~5 KiB in one field, made of lines that parse as records of their own.
    fake_records = "\n".join(f"F{i},Fake,Row,f{i}@example.org" for i in range(200))
    lines = [header] + [[f"U{i}", "A", "B", f"u{i}@example.org"] for i in range(100)]
    lines.append(["U100", "Long", fake_records, "long@example.org"])
    lines += [[f"U{i}", "C", "D", f"u{i}@example.org"] for i in range(101, 200)]
    data = csv_bytes(lines)
    args = ("user", data)
    chunked = _import(tmp_path / "c", database_urls, caplog, *args, CHUNKED, "users", "external_id")
    whole = _import(tmp_path / "w", database_urls, caplog, *args, WHOLE, "users", "external_id")
    assert chunked.steps.count("index") == 1, "every chunk parsed"
    assert len(_phase_steps(chunked, ImportPhase.PARSE)) >= 2
    assert chunked.counts == whole.counts == (199, 1)
    assert chunked.report == whole.report
    assert chunked.rows == whole.rows
    (long,) = [r for r in chunked.report[1:] if r[-2] != "Success"]
    assert long[:3] == ["U100", "Long", fake_records]  # one field, whole
    assert long[-1] == f"Last Name: is {len(fake_records)} characters long; at most 100 are allowed"
    assert not any(str(r["external_id"]).startswith("F") for r in chunked.rows)


def test_a_stray_quote_that_misleads_the_cut_still_imports_like_the_whole_file(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A bare quote inside an unquoted field is data to the parser, but the cut takes it
    for an opening quote, and later cuts land inside quoted fields: a chunk fails to
    parse, and the job parses the file in one piece instead."""
    header = ["External ID", "First Name", "Last Name", "Email"]
    data = csv_bytes([header] + [[f"U{i}", "A", "B", f"u{i}@example.org"] for i in range(100)])
    data += b'U100,Stray,O"Brien,s@example.org\r\n'
    later = [[f"U{i}", "C", f"Two\nlines {i}", f"u{i}@example.org"] for i in range(101, 300)]
    data += csv_bytes(later)
    args = ("user", data)
    chunked = _import(tmp_path / "c", database_urls, caplog, *args, CHUNKED, "users", "external_id")
    whole = _import(tmp_path / "w", database_urls, caplog, *args, WHOLE, "users", "external_id")
    assert chunked.steps.count("index") == 2, "a chunk failed, the file was parsed whole"
    assert chunked.steps.count("parse/00000") == 2
    assert chunked.counts == whole.counts == (300, 0)
    assert chunked.report == whole.report
    assert chunked.rows == whole.rows
    (stray,) = [r for r in chunked.rows if r["external_id"] == "U100"]
    assert stray["last_name"] == 'O"Brien'


def test_a_malformed_file_fails_in_chunks_as_in_one_piece(
    tmp_path: Path, database_urls: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    rows = [["External ID", "First Name", "Email"]] + [
        [f"U{i}", "N", "u@x.org"] for i in range(400)
    ]
    data = csv_bytes(rows) + b'U400,"never closed\r\n' + csv_bytes([["U401", "N", "u@x.org"]] * 300)
    args = ("user", data)
    chunked = _import(tmp_path / "c", database_urls, caplog, *args, CHUNKED, "users", "external_id")
    whole = _import(tmp_path / "w", database_urls, caplog, *args, WHOLE, "users", "external_id")
    assert chunked.status is whole.status is JobStatus.FAILED
    assert chunked.rows == whole.rows == []


def _watch_progress(services: Services, job_id: str, done: threading.Event) -> Iterator[int]:
    while not done.is_set():
        job = services.job_repository.get(job_id)
        if job is not None and job.progress.total is not None:
            yield job.progress.processed
        time.sleep(0.005)


def test_progress_sums_every_chunk_and_never_goes_down(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    from tests.helpers import submit

    data = _user_file(3000)
    with running_services(
        tmp_path, database_urls, executor={"chunk_bytes": 4096, "batch_rows": 50}
    ) as services:
        job = submit(services, "user", data)
        done = threading.Event()
        seen: list[int] = []

        def watch() -> None:
            seen.extend(_watch_progress(services, job.id, done))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            services.executor.run_pending()  # type: ignore[attr-defined]
        finally:
            done.set()
            watcher.join()
        final = services.job_repository.get(job.id)
        assert final is not None
        assert final.status is JobStatus.COMPLETED
        assert final.progress.processed == final.progress.total == 3000
        assert seen == sorted(seen), "progress went down"
        assert len(set(seen)) > 5, "progress moved in steps across chunks"
