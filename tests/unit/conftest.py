"""A migrated database of the test's own, for the unit tests that need one (SQLite, or
PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` names a server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.store.database import make_engine, migrate, session_factory


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
