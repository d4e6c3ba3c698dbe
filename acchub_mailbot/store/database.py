"""Engine creation and schema migration, the only place that knows the database URL."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import paths
from acchub_mailbot.store.migrations import HEAD
from acchub_mailbot.store.models import Base

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = paths.MIGRATIONS_DIR
# Key of the PostgreSQL advisory lock that serialises schema migrations ("acch").
MIGRATION_LOCK_KEY = 0x61636368


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the CLI read while the service writes; busy_timeout turns "database is locked"
    # into a short wait instead of an error; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 15})  # connects on first use
    path = sqlite_path(engine)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_path(engine: Engine) -> Path | None:
    """The database file of a file-backed SQLite engine; None for in-memory and servers."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    return Path(database) if database and database != ":memory:" else None


# Alembic's own bookkeeping table, as ``alembic stamp`` creates it.
_VERSION = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock on ``<database>.migrate.lock`` while migrating.

    A file of its own, because closing any descriptor of the database file itself would drop
    SQLite's own POSIX locks held by this process.
    """
    path = sqlite_path(engine)
    if path is None:
        yield
        return
    with open(f"{path}.migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run on every start.

    Instances that start together migrate one after the other: the first upgrades, the others
    then find the schema at head. Without the lock, concurrent CREATE TABLEs on a fresh
    PostgreSQL database fail with a unique violation in the catalogue and the instance exits.
    """
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Released at commit; statements after it see what the previous holder committed.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        tables = set(inspect(connection).get_table_names())
        if _VERSION.name in tables and _version(connection) == HEAD:
            return
        if not tables:
            # A new database: build the newest schema at once and record it, as Alembic's
            # "create_all, then stamp head" recipe does. A unit test checks that this gives
            # exactly the schema the migrations build.
            Base.metadata.create_all(connection)
            _VERSION.create(connection)
            connection.execute(_VERSION.insert().values(version_num=HEAD))
            return
        from alembic import command

        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _version(connection: Connection) -> str | None:
    versions = connection.scalars(select(_VERSION.c.version_num)).all()
    return versions[0] if len(versions) == 1 else None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def redacted_url(url: str) -> str:
    """The database URL as it may be shown: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


#: What opening the database raises when it cannot: a driver error, or a SQLite folder
#: that cannot be created.
OPEN_ERRORS: tuple[type[Exception], ...] = (DBAPIError, OSError)


def open_problem(url: str, exc: Exception) -> str:
    """One readable line for a database that cannot be opened, with the password hidden."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:
        shown = "(database.url)"
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return (
        f"cannot open the database {shown}: {reason}\n"
        "Check database.url in the config and that the database server is running and "
        "reachable; the schema is created or upgraded on start."
    )
