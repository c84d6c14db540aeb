from __future__ import annotations

import asyncio

import pytest

from manager.hub.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.fail: BaseException | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> int:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.calls


class Down(Exception):
    pass


async def test_fresh_entries_are_served_without_loading() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(ttl_s=10, max_entries=10, clock=clock)
    load = Loader()
    first = await cache.get("k", load)
    assert (first.value, first.hit, first.stale) == (1, False, False)
    clock.now += 9.9
    second = await cache.get("k", load)
    assert (second.value, second.hit) == (1, True)
    assert load.calls == 1
    clock.now += 0.2
    third = await cache.get("k", load)
    assert (third.value, third.hit) == (2, False)


async def test_zero_ttl_always_loads() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=0, max_entries=10)
    load = Loader()
    await cache.get("k", load)
    await cache.get("k", load)
    assert load.calls == 2


async def test_size_is_bounded_least_recently_used_first() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=100, max_entries=2, clock=Clock())
    loads = {k: Loader() for k in "abc"}
    await cache.get("a", loads["a"])
    await cache.get("b", loads["b"])
    await cache.get("a", loads["a"])  # a is now the most recent
    await cache.get("c", loads["c"])  # evicts b
    assert len(cache) == 2
    await cache.get("a", loads["a"])
    await cache.get("b", loads["b"])
    assert loads["a"].calls == 1
    assert loads["b"].calls == 2


async def test_concurrent_misses_share_one_load() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=100, max_entries=10)
    load = Loader()
    load.gate = asyncio.Event()
    waiters = [asyncio.create_task(cache.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    load.gate.set()
    results = await asyncio.gather(*waiters)
    assert load.calls == 1
    assert {r.value for r in results} == {1}


async def test_a_cancelled_caller_does_not_cancel_the_load() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=100, max_entries=10)
    load = Loader()
    load.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("k", load))
    second = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    first.cancel()
    load.gate.set()
    assert (await second).value == 1
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await cache.get("k", load)).hit
    assert load.calls == 1


async def test_failures_are_not_cached() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=100, max_entries=10)
    load = Loader()
    load.fail = Down()
    with pytest.raises(Down):
        await cache.get("k", load)
    load.fail = None
    assert (await cache.get("k", load)).value == 2


async def test_stale_entry_served_when_the_source_is_down() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(ttl_s=10, max_entries=10, max_stale_s=100, clock=clock)
    load = Loader()
    await cache.get("k", load)
    clock.now += 50
    load.fail = Down()
    stale = await cache.get("k", load, stale_on=(Down,))
    assert (stale.value, stale.stale, stale.hit) == (1, True, False)
    with pytest.raises(Down):  # not one of stale_on
        await cache.get("k", load, stale_on=(KeyError,))
    clock.now += 100  # beyond max_stale_s
    with pytest.raises(Down):
        await cache.get("k", load, stale_on=(Down,))


async def test_no_stale_entry_means_the_error() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=10, max_entries=10)
    load = Loader()
    load.fail = Down()
    with pytest.raises(Down):
        await cache.get("k", load, stale_on=(Down,))


async def test_aclose_cancels_running_loads() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=10, max_entries=10)
    load = Loader()
    load.gate = asyncio.Event()
    waiter = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TTLCache(ttl_s=1, max_entries=0)
