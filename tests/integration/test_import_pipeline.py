"""The import pipeline end to end without HTTP: real databases, real files, the
manual executor so each test decides when jobs run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loadbay.bootstrap import Services, build_services
from loadbay.config import Settings
from loadbay.db.jobs import JobFilter
from loadbay.domain.jobs import JobStatus
from tests.helpers import (
    ALICE,
    csv_bytes,
    report_rows,
    run_import,
    running_services,
    submit,
    table_count,
    target_rows,
)

USER_HEADER = ["External ID", "First Name", "Last Name", "Email", "Phone", "Date of Birth"]


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings, executor_backend="manual")
    built.start()
    yield built
    built.stop()


def test_valid_and_invalid_rows_are_reported_row_by_row(services: Services) -> None:
    data = csv_bytes(
        [
            USER_HEADER,
            ["U1", "Ann", "Lee", "ann@example.org", "", "1990-01-31"],
            ["U2", "", "Bo", "bob@", "", ""],
            ["U3", "Cy", "", "", "+441234567890", ""],
            ["U4", "Di", "", "", "", "2999-01-01"],
        ]
    )
    job = run_import(services, "user", data)
    assert job.status is JobStatus.COMPLETED
    assert (job.counts.success, job.counts.failure) == (2, 2)
    assert (job.progress.processed, job.progress.total) == (4, 4)
    rows = report_rows(services, job.id)
    assert rows[0] == [*USER_HEADER, "Result", "Error"]
    assert rows[1] == ["U1", "Ann", "Lee", "ann@example.org", "", "1990-01-31", "Success", ""]
    assert rows[2] == ["U3", "Cy", "", "", "+441234567890", "", "Success", ""]
    assert rows[3] == [
        "U2",
        "",
        "Bo",
        "bob@",
        "",
        "",
        "Failure",
        'First Name: a value is required; Email: "bob@" is not a valid email address',
    ]
    assert rows[4][-2:] == [
        "Failure",
        'Date of Birth: "2999-01-01" is in the future; Email or Phone: at least one is required',
    ]
    stored = target_rows(services, "users", "external_id")
    assert [r["external_id"] for r in stored] == ["U1", "U3"]
    assert stored[0]["role"] == "member"
    assert stored[0]["status"] == "active"
    assert str(stored[0]["date_of_birth"]) == "1990-01-31"


def test_header_by_key_or_label_in_any_case_and_unknown_columns_carried(
    services: Services,
) -> None:
    data = csv_bytes(
        [
            ["  external_id ", "FIRST NAME", "email", "Notes", "ROLE"],
            ["U1", "Ann", "ann@example.org", "=cmd|' /C calc'!A0", "Reviewer"],
        ]
    )
    job = run_import(services, "user", data)
    assert job.counts.success == 1
    rows = report_rows(services, job.id)
    assert rows[0] == ["External ID", "First Name", "Email", "Notes", "Role", "Result", "Error"]
    assert rows[1] == [
        "U1",
        "Ann",
        "ann@example.org",
        "'=cmd|' /C calc'!A0",
        "Reviewer",
        "Success",
        "",
    ]
    assert target_rows(services, "users", "external_id")[0]["role"] == "reviewer"


def test_duplicate_keys_fail_on_later_rows_across_batches(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    with running_services(tmp_path, database_urls, executor={"batch_rows": 2}) as services:
        data = csv_bytes(
            [
                USER_HEADER,
                ["U1", "A", "", "a@example.org", "", ""],
                ["U2", "B", "", "b@example.org", "", ""],
                ["U3", "C", "", "c@example.org", "", ""],
                ["U1", "D", "", "d@example.org", "", ""],  # another batch
                ["U3", "E", "", "e@example.org", "", ""],
                ["U1", "F", "", "f@example.org", "", ""],
            ]
        )
        job = run_import(services, "user", data)
        assert (job.counts.success, job.counts.failure) == (3, 3)
        failures = [r for r in report_rows(services, job.id)[1:] if r[-2] == "Failure"]
        assert [f[-1] for f in failures] == [
            "External ID: duplicate of row 2",
            "External ID: duplicate of row 4",
            "External ID: duplicate of row 2",
        ]
        names = {
            r["external_id"]: r["first_name"] for r in target_rows(services, "users", "external_id")
        }
        assert names == {"U1": "A", "U2": "B", "U3": "C"}


def test_references_to_the_target_and_to_earlier_rows(
    tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    with running_services(tmp_path, database_urls, executor={"batch_rows": 2}) as services:
        locations = csv_bytes(
            [
                ["Location Code", "Location Name", "Location Type", "Parent Location Code"],
                ["S1", "State", "state", ""],
                ["D1", "District", "district", "S1"],  # same batch, earlier row
                ["B1", "Block", "block", "D1"],  # next batch, earlier row
                ["B2", "Orphan", "block", "XX"],
                ["C1", "Cluster", "Cluster", "B2"],  # refers to a failed row
                ["C2", "Bad", "city", ""],
            ]
        )
        job = run_import(services, "location", locations)
        assert (job.counts.success, job.counts.failure) == (3, 3)
        errors = {r[0]: r[-1] for r in report_rows(services, job.id)[1:]}
        assert errors["B2"] == 'Parent Location Code: "XX" does not exist'
        assert errors["C1"] == 'Parent Location Code: "B2" does not exist'
        assert errors["C2"] == (
            'Location Type: "city" is not one of state, district, block, cluster'
        )
        organisations = csv_bytes(
            [
                ["External ID", "Organisation Name", "Location Code"],
                ["O1", "Org", "D1"],
                ["O2", "Org 2", "NOPE"],
            ]
        )
        job = run_import(services, "organisation", organisations)
        assert (job.counts.success, job.counts.failure) == (1, 1)
        users = csv_bytes(
            [
                ["External ID", "First Name", "Email", "Organisation ID", "Location Code"],
                ["U1", "A", "a@example.org", "O1", "B1"],
                ["U2", "B", "b@example.org", "ORG-9", "S1"],
            ]
        )
        job = run_import(services, "user", users)
        assert report_rows(services, job.id)[2][-1] == 'Organisation ID: "ORG-9" does not exist'


def test_reimport_updates_only_the_uploaded_columns(services: Services) -> None:
    first = csv_bytes(
        [[*USER_HEADER, "Status"], ["U1", "Ann", "Lee", "a@example.org", "", "", "inactive"]]
    )
    run_import(services, "user", first)
    second = csv_bytes([["External ID", "First Name", "Email"], ["U1", "Anne", "new@example.org"]])
    job = run_import(services, "user", second)
    assert job.counts.success == 1
    (row,) = target_rows(services, "users", "external_id")
    assert row["first_name"] == "Anne"
    assert row["email"] == "new@example.org"
    assert row["last_name"] == "Lee"  # absent from the second file: kept
    assert row["status"] == "inactive"  # its default applies to new records only


def test_running_a_job_twice_is_harmless(services: Services) -> None:
    """What a restart does to a job left `processing`: the re-run rebuilds the report and
    the upserts leave each record once."""
    from tests.helpers import submit

    data = csv_bytes(
        [USER_HEADER, ["U1", "A", "", "a@example.org", "", ""], ["U2", "", "", "", "", ""]]
    )
    job = submit(services, "user", data)
    services.runner.run_job(job.id)
    services.job_repository.transition(job.id, JobStatus.PROCESSING)  # as if interrupted
    services.runner.run_job(job.id)
    finished = services.job_repository.get(job.id)
    assert finished is not None
    assert finished.status is JobStatus.COMPLETED
    assert (finished.counts.success, finished.counts.failure) == (1, 1)
    assert len(report_rows(services, job.id)) == 3
    assert table_count(services, "users") == 1


BAD_FILES = {
    "binary after the first 4 KiB": (
        b"External ID,First Name\r\n" * 200 + bytes(range(256)) * 64,
        "unreadable_file",
    ),
    "invalid utf-8": (
        "External ID,First Name,Email\r\nU1,Jos\u00e9,a@example.org\r\n".encode("latin-1"),
        "unreadable_file",
    ),
    "header only": (b"External ID,First Name,Email\r\n", "no_data_rows"),
    "blank lines only": (b"\r\n\r\n\r\n", "empty_file"),
    "missing columns": (b"External ID,Email\r\nU1,a@example.org\r\n", "missing_columns"),
    "a column twice": (b"External ID,external_id,First Name\r\nU1,U1,A\r\n", "duplicate_columns"),
    "10 MB single line": (b"External ID,First Name\r\n" + b"x" * 10_000_000, "malformed_csv"),
    "unclosed quote": (
        b'External ID,First Name,Email\r\nU1,"Ann,a@example.org\r\n'
        + b"U2,B,b@example.org\r\n" * 20000,
        "malformed_csv",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_fail_with_a_clear_code_and_import_nothing(services: Services, case: str) -> None:
    data, code = BAD_FILES[case]
    job = run_import(services, "user", data)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == code, job.error
    assert job.error.message
    assert not job.result_available
    assert table_count(services, "users") == 0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytes(range(256)) * 64, id="binary garbage"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(200), id="png"),
        pytest.param(b"PK\x03\x04" + b"x" * 200, id="zip"),
        pytest.param(b"%PDF-1.7\n", id="pdf"),
    ],
)
def test_binary_uploads_are_refused_before_they_become_jobs(
    services: Services, data: bytes
) -> None:
    from loadbay.services.sniffing import UnsupportedFormat

    with pytest.raises(UnsupportedFormat) as refused:
        submit(services, "user", data)
    assert refused.value.code == "unsupported_format"
    assert services.jobs.list(ALICE, JobFilter(), 10, None) == ([], None), "no job"
    assert list(services.stores["incoming"].list_keys()) == []


def test_a_bad_record_late_in_the_file_writes_nothing(services: Services) -> None:
    good = [[f"U{i}", "A", "", "a@example.org", "", ""] for i in range(30_000)]
    data = csv_bytes([USER_HEADER, *good]) + b'U-last,"unclosed\r\n'
    job = run_import(services, "user", data)
    assert job.error is not None
    assert job.error.code == "malformed_csv"
    assert table_count(services, "users") == 0


def test_utf16_and_bom_files_import(services: Services) -> None:
    rows = [USER_HEADER, ["U1", "Zoë", "Ørsted", "z@example.org", "", ""]]
    for encoding in ("utf-8-sig", "utf-16"):
        job = run_import(services, "user", csv_bytes(rows, encoding=encoding))
        assert job.status is JobStatus.COMPLETED, job.error
        assert report_rows(services, job.id)[1][:3] == ["U1", "Zoë", "Ørsted"]


def test_ragged_rows_fail_alone(services: Services) -> None:
    data = (
        b"External ID,First Name,Email\nU1,A,a@example.org\nU2,B\n"
        b"U3,C,c@example.org,extra\nU4,D,d@example.org\n"
    )
    job = run_import(services, "user", data)
    assert (job.counts.success, job.counts.failure) == (2, 2)
    rows = report_rows(services, job.id)
    assert rows[3] == [
        "U2",
        "B",
        "",
        "Failure",
        "The row has 2 values but the header has 3 columns",
    ]
    assert rows[4] == [
        "U3",
        "C",
        "c@example.org",
        "Failure",
        "The row has 4 values but the header has 3 columns",
    ]


def test_extra_dataset_from_yaml(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    folder = tmp_path / "datasets"
    folder.mkdir()
    (folder / "course.yaml").write_text(
        "name: course\ntitle: Courses\nkey: code\ncolumns:\n"
        "  - {key: code, label: Course Code, required: true}\n"
        "  - {key: seats, label: Seats, type: integer, minimum: 1}\n"
        "  - {key: fee, label: Fee, type: decimal}\n"
        "  - {key: online, label: Online, type: boolean}\n"
        "  - {key: location_code, label: Location Code, reference: location}\n",
        encoding="utf-8",
    )
    with running_services(tmp_path, database_urls, datasets={"dir": str(folder)}) as services:
        data = csv_bytes(
            [
                ["Course Code", "Seats", "Fee", "Online"],
                ["C1", "30", "12.50", "yes"],
                ["C2", "0", "x", "maybe"],
            ]
        )
        job = run_import(services, "course", data)
        assert (job.counts.success, job.counts.failure) == (1, 1)
        (row,) = target_rows(services, "course", "code")
        assert row["seats"] == 30
        assert bool(row["online"]) is True
        assert float(row["fee"]) == 12.5
        error = report_rows(services, job.id)[2][-1]
        assert error == (
            'Seats: "0" is less than the minimum 1; Fee: "x" is not a number; '
            'Online: "maybe" is not true or false (expected true/false or yes/no)'
        )


def test_a_finalize_that_finds_the_job_completed_by_another_attempt_keeps_its_report(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker A's finalize lost its lease but completed the job; worker B, re-running
    finalize, writes the same report to the same key and then cannot complete the job.
    B must end the job, not delete the report A's completion points at."""
    from tests.helpers import report_rows

    repository = services.job_repository
    complete = repository.complete

    def completed_by_another_attempt(*args: object, **kwargs: object) -> bool:
        complete(*args, **kwargs)  # type: ignore[arg-type]  # A's completion
        return False  # what B then sees

    monkeypatch.setattr(repository, "complete", completed_by_another_attempt)
    data = csv_bytes([USER_HEADER, ["U1", "A", "", "a@example.org", "", ""]])
    job = run_import(services, "user", data)
    assert job.status is JobStatus.COMPLETED
    assert job.result_available
    assert [r[0] for r in report_rows(services, job.id)] == ["External ID", "U1"]
