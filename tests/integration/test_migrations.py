"""Schema migrations when several instances start at once on one fresh database.

The scale-out mode starts instances together (a rollout, a host reboot); each migrates on
start. Run on PostgreSQL by setting ``ACCHUB_TEST_DATABASE_URL`` (as CI does), on a SQLite
file otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from acchub_mailbot.store.database import alembic_config, make_engine

pytestmark = pytest.mark.integration

STARTERS = 4

# Every child waits until the same wall-clock moment, so their migrations overlap.
CHILD = """
import sys, time
from acchub_mailbot.store.database import make_engine, migrate
engine = make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
migrate(engine)
"""


def test_instances_starting_together_all_migrate_and_leave_one_schema(database_url: str) -> None:
    start_at = time.time() + 3.0  # after every child has imported the application
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, database_url, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(STARTERS)
    ]
    outputs = [child.communicate(timeout=120)[0].decode(errors="replace") for child in children]
    failed = [out for child, out in zip(children, outputs, strict=True) if child.returncode != 0]
    assert not failed, "a concurrent migration failed:\n" + "\n---\n".join(failed)

    engine = make_engine(database_url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            leases = connection.execute(text("SELECT count(*) FROM leases")).scalar_one()
    finally:
        engine.dispose()
    assert [row[0] for row in versions] == [head]
    assert leases == 0  # the schema's tables exist and are empty
