"""Persistence: SQLAlchemy models, migrations and the queries the pipeline and CLI use."""
