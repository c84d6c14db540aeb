from inference_server.pool.eviction import SlotView, choose_victims, expired

GB = 2**30


def slot(id: str, gb: float, last_used: float, evictable: bool = True) -> SlotView:
    return SlotView(id=id, memory_bytes=int(gb * GB), last_used=last_used, evictable=evictable)


def test_fits_without_eviction() -> None:
    slots = [slot("a", 1, 1.0)]
    assert choose_victims(GB, slots, budget_bytes=4 * GB, max_models=4) == []


def test_least_recently_used_goes_first() -> None:
    slots = [slot("new", 1, 3.0), slot("old", 1, 1.0), slot("mid", 1, 2.0)]
    assert choose_victims(2 * GB, slots, budget_bytes=4 * GB, max_models=8) == ["old"]
    assert choose_victims(3 * GB, slots, budget_bytes=4 * GB, max_models=8) == ["old", "mid"]


def test_model_count_limit_evicts_one() -> None:
    slots = [slot("a", 0.1, 2.0), slot("b", 0.1, 1.0)]
    assert choose_victims(1, slots, budget_bytes=4 * GB, max_models=2) == ["b"]


def test_busy_or_pinned_are_never_victims() -> None:
    slots = [slot("busy", 2, 0.0, evictable=False), slot("idle", 1, 5.0)]
    assert choose_victims(2 * GB, slots, budget_bytes=4 * GB, max_models=8) == ["idle"]


def test_impossible_returns_none() -> None:
    slots = [slot("busy", 3, 0.0, evictable=False)]
    assert choose_victims(2 * GB, slots, budget_bytes=4 * GB, max_models=8) is None
    assert choose_victims(5 * GB, [], budget_bytes=4 * GB, max_models=8) is None
    assert (
        choose_victims(1, [slot("p", 0.1, 0, evictable=False)], budget_bytes=GB, max_models=1)
        is None
    )


def test_expired_by_ttl_and_keep_alive() -> None:
    assert not expired(100.0, 105.0, idle_ttl_s=0, keep_alive_until=None)
    assert expired(100.0, 105.0, idle_ttl_s=5, keep_alive_until=None)
    assert not expired(100.0, 104.0, idle_ttl_s=5, keep_alive_until=None)
    assert expired(100.0, 101.0, idle_ttl_s=0, keep_alive_until=100.5)
    assert not expired(100.0, 101.0, idle_ttl_s=1, keep_alive_until=200.0)
