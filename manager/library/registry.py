"""The library's registry (when each model was added and last used, where an import came
from), mirrored in memory.

Read once at start, brought in line with the disk and the pool's last-used times on each
read (``sync``), written through when the library changes (``write``), so an unchanged
library costs no database round trip. When the database is down the change is logged, not
raised: the disk already holds it, and the library answers without added / last-used times.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.errors import DatabaseUnavailableError
from manager.library import queries
from manager.library.pool_state import PoolView
from manager.library.queries import RecordView
from manager.library.scan import LibraryScanner, ScannedModel

logger = logging.getLogger(__name__)

Write = Callable[[AsyncSession], Awaitable[None]]


class Registry:
    """The registry's rows by model id, kept in memory (see the module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scanner: LibraryScanner) -> None:
        self._sessions = sessions
        self._scanner = scanner
        self._records: dict[str, RecordView] | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> bool:
        """Read the registry (and seed the scanner with the characteristics it knows);
        False when the database is down."""
        try:
            async with session_scope(self._sessions) as session:
                records = await queries.load_records(session)
                known = await queries.load_characteristics(session)
        except DatabaseUnavailableError as exc:
            logger.warning("library registry unavailable: %s", exc.message)
            return False
        self._scanner.seed(known)
        self._records = records
        return True

    async def sync(self, models: list[ScannedModel], pool: PoolView) -> dict[str, RecordView]:
        """The registry, brought in line with the disk and the pool's last-used times."""
        async with self._lock:
            if self._records is None and not await self.load():
                return {}
            assert self._records is not None
            records = self._records
            on_disk = {m.id: m for m in models}
            stale = len(records) != len(on_disk) or any(
                m.id not in records or records[m.id].config_hash != m.config_hash for m in models
            )
            used = {
                slot.id: slot.last_used
                for slot in pool.slots.values()
                if slot.last_used is not None
                and slot.id in records
                and (records[slot.id].last_used_at or 0) < slot.last_used - 1
            }
            if not stale and not used:
                return records
            try:
                async with session_scope(self._sessions) as session:
                    if stale:
                        await queries.sync_records(session, models, records, time.time())
                    if used:
                        await queries.set_last_used(session, used)
                    self._records = await queries.load_records(session)
            except DatabaseUnavailableError as exc:
                logger.warning("library registry not updated: %s", exc.message)
            return self._records

    async def write(self, action: Write) -> None:
        """Run ``action(session)`` on the registry and refresh the mirror; a database that is
        down is logged, not raised: the disk already holds the change."""
        async with self._lock:
            try:
                async with session_scope(self._sessions) as session:
                    await action(session)
                    self._records = await queries.load_records(session)
            except DatabaseUnavailableError as exc:
                logger.warning("library registry not updated: %s", exc.message)
