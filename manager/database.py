"""The manager's database: async engine, sessions, the declarative ``Base`` and schema set-up.

Tables live next to the code that owns them (``downloads/tables.py``, ``library/tables.py``)
and register on ``Base``; ``init_schema`` brings the schema up to date at start-up with the
migrations in ``manager/migrations``. SQLite is the default (a file in ``DATA_DIR``, WAL
journal so readers never block the writer) and serves one manager; PostgreSQL
(``postgresql+asyncpg://...``) serves several managers sharing their jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from manager.errors import DatabaseUnavailableError, WriteConflictError

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base for every manager table."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; for SQLite the folder is created and WAL switched on."""
    path = _sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"the database folder {path.parent} cannot be created: {exc.strerror}",
                resolution_steps=["Point MODEL_MANAGER_DATA_DIR at a writable folder."],
            ) from exc
    engine = create_async_engine(url, pool_pre_ping=True)
    if path is not None:
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    else:
        event.listen(engine.sync_engine, "do_connect", _connect_errors_as_dbapi)
    return engine


def _connect_errors_as_dbapi(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """A server that cannot be reached (refused, no such host, timeout) raises the driver's
    ``OperationalError``, as every other database failure does, so callers answer 503 rather
    than 500 (asyncpg raises a bare ``OSError`` there)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as exc:
        raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {exc}") from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def table_metadata() -> MetaData:
    """Every manager table, registered on ``Base`` by importing the modules that declare them."""
    import importlib

    for module in (
        "manager.downloads.tables",
        "manager.library.tables",
        "manager.responses.tables",
    ):
        importlib.import_module(module)
    return Base.metadata


async def init_schema(engine: AsyncEngine) -> None:
    """Create or upgrade the schema (``manager/migrations``); 503 error when it cannot."""
    from manager.migrations.upgrade import upgrade_schema

    await upgrade_schema(engine)


@dataclass
class SchemaStatus:
    """Whether the schema is in place; ``error`` says why not."""

    error: str | None = None


async def keep_trying_schema(
    engine: AsyncEngine, status: SchemaStatus, interval_s: float = 5.0
) -> None:
    """Retry ``init_schema`` until it succeeds (the database was locked or read-only)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await init_schema(engine)
        except DatabaseUnavailableError as exc:
            status.error = exc.message
            logger.warning("database still unavailable: %s", exc.message)
            continue
        status.error = None
        logger.info("database schema ready")
        return


async def ping(engine: AsyncEngine) -> None:
    """Raise ``DatabaseUnavailableError`` when the database does not answer."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailableError(f"the database is unavailable: {exc.orig}") from exc


@asynccontextmanager
async def session_scope(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session that commits on success, rolls back on error, and maps database failures to
    503 (a constraint that refused a write: 409 ``WriteConflictError``)."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise WriteConflictError(
                "another request changed the same record at the same moment",
                details={"reason": str(exc.orig)[:200]},
                resolution_steps=["Send the request again."],
            ) from exc
        except (OperationalError, DBAPIError) as exc:
            await session.rollback()
            raise DatabaseUnavailableError(
                f"the database is unavailable: {exc.orig}",
                headers={"Retry-After": "1"},
            ) from exc
        except BaseException:
            await session.rollback()
            raise
