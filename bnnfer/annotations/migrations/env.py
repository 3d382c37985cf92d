"""Alembic's environment for the annotations database: run online on the connection that
`bnnfer.annotations.database.migrate` hands over in ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
