"""Shared fixtures: settings on a fresh data directory, the service and target databases
(SQLite by default; PostgreSQL when ``LOADBAY_TEST_DB=postgresql``), and tokens.

A test that needs a service this machine lacks skips with the reason; under
``CI=true`` it fails instead, so CI never silently skips the real thing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadbay.config import Settings, load_settings

pytest_plugins = [
    "tests.receivers",
    "tests.fixtures_clamd",
    "tests.fixtures_objects",
    "tests.fixtures_rclone",
    "tests.fixtures_gcs",
]

POSTGRES_ADMIN_URL = os.environ.get(
    "LOADBAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TOKENS: dict[str, dict[str, Any]] = {
    "alice": {"token": "alice-token-1", "user": "alice", "tenant": "acme", "roles": ["user"]},
    "bob": {"token": "bob-token-22", "user": "bob", "tenant": "acme", "roles": ["user"]},
    "carol": {"token": "carol-token-3", "user": "carol", "tenant": "globex", "roles": ["user"]},
    "acme_admin": {
        "token": "acme-admin-token",
        "user": "dora",
        "tenant": "acme",
        "roles": ["admin"],
    },
    "root": {"token": "root-admin-token", "user": "root", "tenant": "", "roles": ["admin"]},
}


def unavailable(reason: str) -> None:
    """Skip loudly on a laptop; fail in CI, where every real service must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(f"NOT TESTED HERE: {reason}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that touch a database run once per database backend (see the Makefile).
    for item in items:
        if "database_urls" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def database_backend() -> str:
    return os.environ.get("LOADBAY_TEST_DB", "sqlite")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One fresh PostgreSQL database for the session (dropped after it)."""
    import psycopg

    name = f"loadbay_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_urls(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    """(service database URL, target database URL), empty for each test."""
    if database_backend() != "postgresql":
        return (
            f"sqlite:///{tmp_path / 'service.sqlite'}",
            f"sqlite:///{tmp_path / 'target.sqlite'}",
        )
    import psycopg

    database = request.getfixturevalue("postgres_database")
    schemas = (f"svc_{secrets.token_hex(4)}", f"tgt_{secrets.token_hex(4)}")
    with psycopg.connect(database, autocommit=True) as connection:
        for schema in schemas:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    sqlalchemy_base = database.replace("postgresql://", "postgresql+psycopg://", 1)
    service_url, target_url = (
        f"{sqlalchemy_base}?options=-csearch_path%3D{schema}" for schema in schemas
    )
    return service_url, target_url


STORE_ROLES = ("incoming", "permanent", "quarantine", "results", "exports", "work")
# The stores every test's settings use when LOADBAY_TEST_STORES names an object store.
_object_stores: dict[str, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _stores_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``LOADBAY_TEST_STORES=s3`` (or ``azure``), every test that builds services
    keeps all its files in a fresh bucket of the real server instead of on local disk."""
    backend = os.environ.get("LOADBAY_TEST_STORES", "local")
    if backend == "local" or "database_urls" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue({"s3": "ministack", "azure": "azurite"}[backend])
    bucket = server.create_bucket()
    # Tests of loadbay's own signed links keep their results on local disk.
    local_results = request.node.get_closest_marker("local_results") is not None
    _object_stores.update(
        {
            role: {"url": server.url(bucket, role), **server.options()}
            for role in STORE_ROLES
            if not (local_results and role == "results")
        }
    )
    yield
    _object_stores.clear()


def make_settings(
    data_dir: Path, database_urls: tuple[str, str], **sections: dict[str, Any]
) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "database": {"url": database_urls[0]},
        "target": {"url": database_urls[1]},
        "auth": {"tokens": list(TOKENS.values())},
        "security": {"secret_key": "test-secret-key"},
        "stores": dict(_object_stores),
    }
    for section, options in sections.items():
        values[section] = {**values.get(section, {}), **options}
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, database_urls: tuple[str, str]) -> Settings:
    return make_settings(tmp_path / "data", database_urls)


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]['token']}"}


__all__ = ["TOKENS", "auth", "load_settings", "make_settings", "unavailable"]
