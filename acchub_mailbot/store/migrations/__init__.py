"""Alembic migrations; applied by ``acchub_mailbot.store.database.migrate`` at start-up."""
