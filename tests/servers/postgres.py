"""Throwaway PostgreSQL databases for tests that must run against the real thing.

Each test gets its own database, created on the server named by a URL and dropped
afterwards, so tests cannot see each other's rows and a crashed test leaves nothing behind
that the next run trips over.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

#: URL schemes accepted for ``ACCHUB_TEST_DATABASE_URL``.
_POSTGRES_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg")


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL server we can create databases on."""
    return url.split("://", 1)[0] in _POSTGRES_DRIVERS and "://" in url


def _libpq_url(url: str, database: str | None = None) -> str:
    """The URL in libpq form (no SQLAlchemy driver suffix), optionally for another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def temporary_database(server_url: str, prefix: str = "acchub_test") -> Iterator[str]:
    """Create a uniquely named database and yield its SQLAlchemy ``postgresql+psycopg`` URL.

    The database is dropped ``WITH (FORCE)`` afterwards, so connections a test leaked (an
    engine never disposed) cannot keep it alive.
    """
    if not is_postgres_url(server_url):
        raise ValueError(f"not a PostgreSQL URL: {server_url!r}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_url = _libpq_url(server_url)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(server_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
