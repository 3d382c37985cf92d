"""Alembic migrations of the annotations database, run by `bnnfer.annotations.database`."""
