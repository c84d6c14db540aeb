"""A small async cache for Hub answers: TTL, bounded size (LRU), one load per key at a time.

- A fresh entry (younger than ``ttl_s``) is answered without calling the loader.
- Concurrent misses on one key share one load (single flight). The load runs in its own task,
  so a caller that goes away (a client that disconnects) does not cancel it for the others,
  and its result still fills the cache.
- An expired entry is kept (up to ``max_stale_s``) so that, when the loader fails with one of
  the ``stale_on`` exceptions (the Hub is unreachable), the old answer is served, marked stale.
- At most ``max_entries`` entries; the least recently used go first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class Cached(Generic[V]):
    value: V
    hit: bool
    stale: bool = False


@dataclass
class _Entry(Generic[V]):
    value: V
    stored_at: float


class TTLCache(Generic[V]):
    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int,
        max_stale_s: float = 86_400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_stale_s = max_stale_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._loads: dict[Hashable, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def _fresh(self, entry: _Entry[V]) -> bool:
        return self._clock() - entry.stored_at < self.ttl_s

    def _usable_stale(self, entry: _Entry[V]) -> bool:
        return self._clock() - entry.stored_at < self.ttl_s + self.max_stale_s

    def _store(self, key: Hashable, value: V) -> None:
        self._entries[key] = _Entry(value, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _start_load(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        async def run() -> V:
            value = await load()
            self._store(key, value)
            return value

        task = asyncio.create_task(run())
        self._loads[key] = task

        def done(finished: asyncio.Task[V]) -> None:
            if self._loads.get(key) is finished:
                del self._loads[key]
            if not finished.cancelled():
                finished.exception()  # retrieved: nobody waiting is not an error here

        task.add_done_callback(done)
        return task

    async def get(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[V]],
        *,
        stale_on: tuple[type[BaseException], ...] = (),
    ) -> Cached[V]:
        entry = self._entries.get(key)
        if entry is not None and self._fresh(entry):
            self._entries.move_to_end(key)
            return Cached(entry.value, hit=True)
        task = self._loads.get(key) or self._start_load(key, load)
        try:
            value = await asyncio.shield(task)
        except stale_on:
            entry = self._entries.get(key)
            if entry is None or not self._usable_stale(entry):
                raise
            return Cached(entry.value, hit=False, stale=True)
        return Cached(value, hit=False)

    async def aclose(self) -> None:
        """Cancel the loads still running (at shutdown)."""
        tasks = list(self._loads.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loads.clear()
