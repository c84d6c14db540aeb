"""Alembic's environment: migrate over the connection the caller put in the config.

The manager passes its own connection (``upgrade.py``), inside the transaction that holds the
migration lock; ``python -m manager.migrations`` passes one to a scratch database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from manager.database import table_metadata

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=table_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
