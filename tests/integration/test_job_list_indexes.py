"""Migrations 0005 and 0008, the job list and job count indexes: what they create is
what ``tables.py`` declares, and a downgrade takes exactly its own away. (How much they
help is measured by ``bench/jobs_list_bench.py`` on 1M jobs.)"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from loadbay.db.engine import make_engine
from loadbay.db.migrate import upgrade_to_head
from loadbay.db.tables import jobs


def indexes(engine: Engine) -> dict[str, list[str]]:
    return {
        str(index["name"]): [str(c) for c in index["column_names"]]
        for index in inspect(engine).get_indexes("jobs")
    }


def downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("loadbay.db") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_migrated_indexes_are_the_declared_ones(database_urls: tuple[str, str]) -> None:
    engine = make_engine(database_urls[0])
    try:
        upgrade_to_head(engine)
        declared = {str(i.name): [c.name for c in i.columns] for i in jobs.indexes}
        assert indexes(engine) == declared
        assert declared["ix_jobs_tenant_status_id"] == ["tenant", "status", "id"]

        assert declared["ix_jobs_status_kind"] == ["status", "kind"]

        downgrade(engine, "0007")  # 0008 puts the status index back in its place
        assert set(indexes(engine)) == set(declared) - {"ix_jobs_status_kind"} | {"ix_jobs_status"}
        downgrade(engine, "0004")
        assert set(indexes(engine)) == {
            "ix_jobs_tenant_owner_id",
            "ix_jobs_tenant_id",
            "ix_jobs_status",
        }
        upgrade_to_head(engine)
        assert indexes(engine) == declared
    finally:
        engine.dispose()
