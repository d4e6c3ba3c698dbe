"""The schema a start builds: Alembic's migrations on an old database, the models' tables on a
new one, and the same schema either way (SQLite here; PostgreSQL in CI)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from acchub_mailbot.store.database import alembic_config, make_engine, migrate
from acchub_mailbot.store.migrations import HEAD
from acchub_mailbot.store.models import Base


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """The migrations alone, as Alembic runs them."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema(engine: Engine) -> dict[str, Any]:
    """Everything a later migration could depend on, table by table (columns by name: a
    migration appends the columns it adds, which the order of the models cannot follow)."""
    found: dict[str, Any] = {}
    inspector = inspect(engine)
    for table in sorted(inspector.get_table_names()):
        found[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ),
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], str(f.get("options")))
                for f in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        }
    return found


def drop_everything(engine: Engine) -> None:
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE alembic_version"))


def test_head_names_alembics_newest_revision(engine: Engine) -> None:
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == HEAD


def test_the_migrations_build_exactly_the_schema_of_the_models(engine: Engine) -> None:
    """No change to the models is missing a migration."""
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_new_database_gets_exactly_the_schema_the_migrations_build(engine: Engine) -> None:
    migrate(engine)  # a new database: the models' tables, stamped at HEAD
    built = schema(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == (HEAD,)
    drop_everything(engine)
    assert inspect(engine).get_table_names() == []
    upgrade(engine)
    assert schema(engine) == built
    assert "clients" in built and "leases" in built


def test_an_older_database_is_upgraded_and_keeps_its_rows(engine: Engine) -> None:
    upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO leases (mailbox, holder, token, expires_at, acquired_at) "
                "VALUES ('invites', 'other-host', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    migrate(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == (HEAD,)
        assert connection.scalar(text("SELECT token FROM leases")) == 3
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_start_on_a_database_at_head_does_not_load_alembic(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    probe = (
        "import sys\n"
        "from acchub_mailbot.store.database import make_engine, migrate\n"
        f"engine = make_engine({database_url!r})\n"
        "migrate(engine)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
