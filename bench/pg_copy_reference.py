"""Raw COPY reference: a user CSV into PostgreSQL with one ``COPY``, no loadbay at all.

:func:`copy_rows_s` creates a fresh table shaped like the ``users`` table that the user
dataset creates (what ``SqlTarget`` makes of it: text columns, ``external_id`` the
primary key, ``date_of_birth`` a ``DATE``), streams the file through one
``COPY ... FROM STDIN (FORMAT csv, HEADER)`` in one transaction, drops the table and
returns rows/s: what PostgreSQL itself takes, for a benchmark to hold loadbay against.

One liberty, because a typed date column needs it: ``bench.import_bench.data_file`` makes
2% of rows invalid, and some carry the date of birth ``1990-13-45``, which a ``DATE``
column refuses, failing the whole ``COPY``. The stream turns that one value into an
empty field (NULL) on the way (``bytes.replace`` over 1 MiB chunks cut at line ends:
well under 1% of the time). Any other value the table refuses still fails loudly.

Run ``.venv/bin/python -m bench.pg_copy_reference [--rows 1000000]`` (a fresh database on
``LOADBAY_BENCH_POSTGRES``, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench._common import MIB, BenchError
from bench.import_bench import HEADER, data_file

ADMIN_URL = os.environ.get(
    "LOADBAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
COLUMNS = (
    "external_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "role",
    "status",
)  # the file's columns, in its order (HEADER)
#: The one invalid date ``import_bench.make_row`` writes, between its neighbours' commas.
BAD_DATE, NO_DATE = b",1990-13-45,", b",,"


@contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url`` (a libpq URL), dropped after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise BenchError(f"PostgreSQL at {admin_url}: {error}") from error
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _chunks(csv_path: Path) -> Iterator[bytes]:
    """The file in chunks of about 1 MiB, each ending at a line end, bad dates blanked."""
    carry = b""
    with csv_path.open("rb") as f:
        while chunk := f.read(MIB):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            yield data[:cut].replace(BAD_DATE, NO_DATE)
    if carry:
        yield carry.replace(BAD_DATE, NO_DATE)


def copy_rows_s(csv_path: Path, pg_url: str) -> float:
    """Rows per second of one ``COPY`` of ``csv_path`` (a ``data_file`` CSV) into a fresh
    users table in the database of ``pg_url`` (``postgresql://`` or
    ``postgresql+psycopg://``), the commit included."""
    with csv_path.open(encoding="utf-8") as f:
        if f.readline().rstrip("\r\n") != HEADER:
            raise BenchError(f"{csv_path}: not a user file of bench.import_bench")
    url = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    table = f"copy_reference_{secrets.token_hex(4)}"
    with psycopg.connect(url) as connection:
        connection.execute(
            f"CREATE TABLE {table} (external_id TEXT NOT NULL PRIMARY KEY, first_name TEXT,"
            " last_name TEXT, email TEXT, phone TEXT, date_of_birth DATE,"
            " organisation_id TEXT, location_code TEXT, role TEXT, status TEXT)"
        )
        connection.commit()
        try:
            start = time.perf_counter()
            with connection.cursor() as cursor:
                statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv, HEADER)"
                with cursor.copy(statement) as copy:
                    for chunk in _chunks(csv_path):
                        copy.write(chunk)
                rows = cursor.rowcount
            connection.commit()
            elapsed = time.perf_counter() - start
        finally:
            connection.rollback()
            connection.execute(f"DROP TABLE IF EXISTS {table}")
            connection.commit()
    if rows <= 0:
        raise BenchError(f"COPY of {csv_path} wrote {rows} rows")
    return rows / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    rows = parser.parse_args(argv).rows
    path = data_file(rows)
    try:
        with fresh_database(ADMIN_URL, "loadbay_copy_reference") as url:
            rate = copy_rows_s(path, url)
    except (BenchError, psycopg.Error) as exc:
        print(f"BENCH BROKE: {exc}", file=sys.stderr)
        return 1
    print(f"{rows:,} rows: raw COPY into PostgreSQL {rate:,.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
