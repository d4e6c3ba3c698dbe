"""Alembic migrations; applied by ``acchub_mailbot.store.database.migrate`` at start-up.

``HEAD`` names the newest revision, so that a start on a database already there needs no
Alembic at all (its import is a fifth of a second). A unit test keeps it equal to Alembic's own
head: a new migration that forgets to move it fails the suite.
"""

HEAD = "0009"
