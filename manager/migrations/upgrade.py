"""Bring the database to the newest schema at start-up, with no manual step.

- A new database gets every migration from the first.
- A database made before migrations existed (tables from ``create_all`` and a
  ``schema_version`` table, no ``alembic_version``) is adopted: the first migration keeps the
  tables it finds and creates only the missing ones, then the later ones run.
- A database at an older revision gets the migrations it lacks.
- A database migrated by a newer modelyard (a revision this one does not know) is refused
  with a clear message rather than guessed at.

On PostgreSQL the upgrade runs in one transaction holding an advisory lock, so managers that
start together on one database migrate it once and the others wait, then find it current.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from manager.errors import DatabaseUnavailableError

HERE = Path(__file__).resolve().parent
# pg_advisory_xact_lock key: any fixed 64-bit number, the same in every manager.
MIGRATION_LOCK_KEY = 0x6D6F64656C796172  # "modelyar"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no ini file): the scripts in this package."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> None:
    # An unknown current revision (a newer modelyard's) raises CommandError.
    command.upgrade(alembic_config(connection), "head")


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Migrate the database to the newest revision (see the module docstring)."""
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(_upgrade)
    except CommandError as exc:
        raise DatabaseUnavailableError(
            f"the database schema is from another modelyard version ({exc})",
            resolution_steps=[
                "Run the modelyard version that last used this database, or point "
                "MODEL_MANAGER_DATABASE_URL at a new database.",
            ],
        ) from exc
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailableError(
            f"the database cannot be opened or written: {exc.orig}",
            resolution_steps=[
                "Check that MODEL_MANAGER_DATA_DIR (or MODEL_MANAGER_DATABASE_URL) is writable "
                "and the database server answers.",
            ],
        ) from exc
