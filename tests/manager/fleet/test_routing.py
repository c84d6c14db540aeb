"""The routing policy among inference servers: pure, every rule and its tie-breaks."""

from __future__ import annotations

import pytest

from manager.fleet.hosts import parse_hosts, parse_placement
from manager.fleet.routing import HostView, NoRoute, Route, SlotView, choose_host
from manager.settings import ManagerSettings
from shared_schemas.pool import SlotState

GB = 10**9
A, B, C = "http://a:8001", "http://b:8001", "http://c:8001"
READY = SlotState.READY
LOADING = SlotState.LOADING


def host(
    url: str,
    *,
    up: bool = True,
    in_flight: int = 0,
    budget: int = 10 * GB,
    used: int = 0,
    max_models: int = 4,
    slots: dict[str, SlotView] | None = None,
    models: set[str] | None = None,
) -> HostView:
    return HostView(
        url=url,
        up=up,
        in_flight=in_flight,
        budget_bytes=budget,
        used_bytes=used,
        max_models=max_models,
        slots=slots or {},
        models=frozenset(models) if models is not None else None,
    )


def loaded(size: int = GB, *, pinned: bool = False, busy: bool = False) -> SlotView:
    return SlotView(state=READY, memory_bytes=size, pinned=pinned, busy=busy)


def test_loaded_model_goes_to_the_server_with_the_fewest_in_flight() -> None:
    hosts = [
        host(A, in_flight=3, slots={"m": loaded()}),
        host(B, in_flight=1, slots={"m": loaded()}),
        host(C, in_flight=0, models={"m"}),  # could load it, but it is loaded elsewhere
    ]
    assert choose_host("m", hosts) == Route(B, "loaded")


def test_tie_on_in_flight_goes_to_the_most_free_memory() -> None:
    hosts = [
        host(A, used=8 * GB, slots={"m": loaded()}),
        host(B, used=2 * GB, slots={"m": loaded()}),
    ]
    assert choose_host("m", hosts) == Route(B, "loaded")


def test_a_loading_server_is_waited_for_rather_than_loading_twice() -> None:
    hosts = [host(A, models={"m"}), host(B, slots={"m": SlotView(state=LOADING)})]
    assert choose_host("m", hosts) == Route(B, "loading")


def test_not_loaded_goes_to_the_server_that_can_load_it_with_the_most_free_memory() -> None:
    hosts = [
        host(A, used=6 * GB, models={"m"}),
        host(B, used=1 * GB, models={"m"}),
        host(C, used=0, models={"other"}),  # most free memory, but does not see m
    ]
    assert choose_host("m", hosts, model_bytes=2 * GB) == Route(B, "can_load")


def test_memory_counts_what_could_be_evicted() -> None:
    full_but_evictable = host(A, used=9 * GB, slots={"x": loaded(9 * GB)}, models={"m"})
    full_and_pinned = host(B, used=9 * GB, slots={"y": loaded(9 * GB, pinned=True)}, models={"m"})
    full_and_serving = host(C, used=9 * GB, slots={"z": loaded(9 * GB, busy=True)}, models={"m"})
    assert full_but_evictable.has_room_for(5 * GB)
    assert not full_and_pinned.has_room_for(5 * GB)
    assert not full_and_serving.has_room_for(5 * GB)
    hosts = [full_and_pinned, full_and_serving, full_but_evictable]
    assert choose_host("m", hosts, model_bytes=5 * GB) == Route(A, "can_load")


def test_model_count_limit_counts_what_could_be_evicted() -> None:
    busy = {f"k{n}": loaded(1, busy=True) for n in range(2)}
    assert not host(A, max_models=2, slots=busy, models={"m"}).has_room_for(1)
    idle = {f"k{n}": loaded(1) for n in range(2)}
    assert host(A, max_models=2, slots=idle, models={"m"}).has_room_for(1)


def test_too_big_everywhere_goes_to_a_server_that_sees_it_with_the_most_memory() -> None:
    hosts = [host(A, budget=4 * GB, models={"m"}), host(B, budget=8 * GB, models={"m"})]
    assert choose_host("m", hosts, model_bytes=100 * GB) == Route(B, "on_disk")


def test_unknown_size_is_assumed_to_fit() -> None:
    assert choose_host("m", [host(A, models={"m"})]) == Route(A, "can_load")


def test_pinned_placement_wins_over_a_loaded_copy() -> None:
    hosts = [host(A, slots={"big": loaded()}), host(B, models={"big"})]
    assert choose_host("big", hosts, pins={"big": B}) == Route(B, "pinned")


def test_pinned_server_down_is_503_not_elsewhere() -> None:
    hosts = [host(A, slots={"big": loaded()}), host(B, up=False, models={"big"})]
    choice = choose_host("big", hosts, pins={"big": B})
    assert isinstance(choice, NoRoute)
    assert B in choice.message


def test_down_servers_are_skipped() -> None:
    hosts = [host(A, up=False, slots={"m": loaded()}), host(B, models={"m"})]
    assert choose_host("m", hosts) == Route(B, "can_load")


def test_model_only_on_down_servers_is_503_with_retry() -> None:
    hosts = [host(A, up=False, slots={"m": loaded()}), host(B, models={"other"})]
    choice = choose_host("m", hosts)
    assert isinstance(choice, NoRoute)
    assert choice.retry_after_s > 0
    assert A in choice.message


def test_nothing_up_is_503() -> None:
    choice = choose_host("m", [host(A, up=False), host(B, up=False)])
    assert isinstance(choice, NoRoute)
    assert "no inference server" in choice.message


def test_unknown_model_goes_to_the_least_busy_server_which_answers_its_own_404() -> None:
    hosts = [host(A, in_flight=2, models={"x"}), host(B, in_flight=1, models={"y"})]
    assert choose_host("nowhere", hosts) == Route(B, "any")
    assert choose_host(None, hosts) == Route(B, "any")


def test_excluded_servers_are_not_chosen_again() -> None:
    hosts = [host(A, slots={"m": loaded()}), host(B, models={"m"})]
    assert choose_host("m", hosts, exclude=(A,)) == Route(B, "can_load")
    assert isinstance(choose_host("m", hosts, exclude=(A, B)), NoRoute)


def test_unknown_disk_is_not_can_load() -> None:
    hosts = [host(A, models=None), host(B, models={"m"})]
    assert choose_host("m", hosts) == Route(B, "can_load")


# ---- settings ---------------------------------------------------------------------------------


def test_inference_urls_with_keys_and_placement() -> None:
    hosts = parse_hosts(" http://a:8001/|key-a , http://b:8001 ,")
    assert [h.url for h in hosts] == ["http://a:8001", "http://b:8001"]
    assert hosts[0].headers() == {"authorization": "Bearer key-a"}
    assert hosts[1].headers() == {}
    assert parse_placement("org/big=http://b:8001/, x=http://a:8001") == {
        "org/big": "http://b:8001",
        "x": "http://a:8001",
    }


@pytest.mark.parametrize(
    ("urls", "placement", "message"),
    [
        ("ftp://a", "", "must start with http"),
        ("http://a:1,http://a:1/", "", "listed twice"),
        ("http://a:1,http://b:1", "m=http://c:1", "not in INFERENCE_URLS"),
        ("http://a:1,http://b:1", "no-equals-sign", "model-id=URL"),
    ],
)
def test_bad_inference_settings_are_refused_by_name(
    urls: str, placement: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ManagerSettings(inference_urls=urls, placement=placement)


def test_the_first_server_is_the_single_server_settings_and_keys_fall_back() -> None:
    settings = ManagerSettings(
        inference_urls="http://a:1|own,http://b:1", inference_api_key="shared"
    )
    assert settings.inference_url == "http://a:1"
    assert [h.headers() for h in settings.fleet_hosts] == [
        {"authorization": "Bearer own"},
        {"authorization": "Bearer shared"},
    ]
    assert ManagerSettings(inference_urls="http://a:1").fleet_hosts == []
