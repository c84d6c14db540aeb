"""GET /api/hub/search against the fake Hub: filters, sorting, pagination, badges, caching."""

from __future__ import annotations

import asyncio

import pytest

from modelyard_dev.fake_hub import FakeHub
from tests.manager.hub.conftest import Manager

pytestmark = pytest.mark.asyncio(loop_scope="module")


def ids(body: dict) -> list[str]:
    return [r["id"] for r in body["results"]]


def search_calls(hub: FakeHub) -> int:
    return len([c for c in hub.stats.api("/api/models") if c.path == "/api/models"])


async def test_search_by_text_sorted_by_downloads(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/search", params={"q": "base-7b"})
    assert r.status_code == 200
    body = r.json()
    assert ids(body) == [
        "someone/Base-7B-4bit-mlx",
        "Acme/Base-7B",
        "quants/Base-7B-GGUF",
        "mlx-community/Base-7B-4bit",
        "mlx-community/Base-7B-8bit",
        "other/Base-7B-GGUF",
    ]
    assert body["next_cursor"] is None and body["stale"] is False
    (call,) = hub.stats.api("/api/models")
    assert call.params("search") == ["base-7b"]
    assert call.params("sort") == ["downloads"]
    assert "config" in call.params("expand")


async def test_filters_reach_the_hub(manager: Manager, hub: FakeHub) -> None:
    by_author = await manager.client.get("/api/hub/search", params={"author": "mlx-community"})
    assert set(ids(by_author.json())) == {
        "mlx-community/Base-7B-4bit",
        "mlx-community/Base-7B-8bit",
    }
    gguf = await manager.client.get("/api/hub/search", params={"library": "gguf"})
    assert set(ids(gguf.json())) == {"quants/Base-7B-GGUF", "other/Base-7B-GGUF"}
    mlx = await manager.client.get("/api/hub/search", params={"library": "mlx", "q": "solo"})
    assert ids(mlx.json()) == ["fans/Solo-3B-4bit"]
    vision = await manager.client.get(
        "/api/hub/search", params={"pipeline_tag": "image-text-to-text"}
    )
    assert ids(vision.json()) == ["Acme/Vision-2B"]
    calls = hub.stats.api("/api/models")
    assert calls[1].params("filter") == ["gguf"]
    assert calls[3].params("pipeline_tag") == ["image-text-to-text"]


async def test_sort_by_likes(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/search", params={"q": "acme", "sort": "likes"})
    assert ids(r.json())[:2] == ["Acme/Vision-2B", "Acme/Base-7B"]


async def test_pagination_with_cursors(manager: Manager, hub: FakeHub) -> None:
    seen: list[str] = []
    params: dict[str, str] = {"author": "pager", "limit": "10"}
    pages = 0
    while True:
        r = await manager.client.get("/api/hub/search", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += ids(body)
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"cursor": body["next_cursor"]}
    assert pages == 3
    assert seen == [f"pager/p-{i:02d}" for i in range(24, -1, -1)]
    last = hub.stats.api("/api/models")[-1]
    assert last.params("author") == ["pager"]  # the cursor carried the query
    assert "config" in last.params("expand")


async def test_badges_from_the_listing(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/search", params={"author": "mlx-community"})
    results = {x["id"]: x for x in r.json()["results"]}
    four = results["mlx-community/Base-7B-4bit"]
    assert four["badges"] == ["Llama", "4-bit"]
    assert four["quant"] == {"label": "4bit", "bits": 4}
    assert four["library_name"] == "mlx"
    assert four["last_modified"].startswith("2024-01-01")
    assert four["characteristics"]["context_length"] is None  # not in the listing


async def test_configs_fetched_for_the_page_once(manager: Manager, hub: FakeHub) -> None:
    params = {"q": "acme", "configs": "true"}
    r = await manager.client.get("/api/hub/search", params=params)
    results = {x["id"]: x for x in r.json()["results"]}
    assert results["Acme/Base-7B"]["badges"] == ["Llama", "128K ctx", "8B"]
    assert results["Acme/Vision-2B"]["badges"][:2] == ["Qwen", "Vision"]
    assert results["Acme/Gated-1B"]["badges"] == ["Llama"]  # gated: the listing's config
    assert hub.stats.file("Acme/Base-7B", "config.json").get == 1
    again = await manager.client.get("/api/hub/search", params=params)
    assert again.json() == r.json()
    assert hub.stats.file("Acme/Base-7B", "config.json").get == 1
    assert search_calls(hub) == 1


async def test_second_search_is_served_from_the_cache(manager: Manager, hub: FakeHub) -> None:
    first = await manager.client.get("/api/hub/search", params={"q": "base"})
    second = await manager.client.get("/api/hub/search", params={"q": "base"})
    assert first.json() == second.json()
    assert search_calls(hub) == 1
    assert manager.metric("modelyard_manager_hub_cache_hits_total") == 1
    assert (
        manager.metric("modelyard_manager_hub_requests_total", operation="search", outcome="ok")
        == 1
    )
    await manager.client.get("/api/hub/search", params={"q": "base", "sort": "likes"})
    assert search_calls(hub) == 2


async def test_concurrent_identical_searches_make_one_request(
    manager: Manager, hub: FakeHub
) -> None:
    responses = await asyncio.gather(
        *(manager.client.get("/api/hub/search", params={"q": "pager"}) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {200}
    assert search_calls(hub) == 1


async def test_ttl_zero_always_asks(make_manager, hub: FakeHub) -> None:
    manager = await make_manager(hub_cache_ttl_s=0)
    await manager.client.get("/api/hub/search", params={"q": "base"})
    await manager.client.get("/api/hub/search", params={"q": "base"})
    assert search_calls(hub) == 2


async def test_invalid_parameters_are_400_and_never_reach_the_hub(
    manager: Manager, hub: FakeHub
) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "101"},
        {"sort": "random"},
        {"library": "onnx"},
        {"author": "../x"},
        {"pipeline_tag": "Text Generation"},
        {"q": "x" * 201},
        {"cursor": "not base64!"},
        {"cursor": "YQ"},  # "a": no key=value pair
    ):
        r = await manager.client.get("/api/hub/search", params=params)
        assert r.status_code == 400, params
        error = r.json()["error"]
        assert error["code"] == "invalid_request" and error["src"] == "manager"
        assert error["param"] in (
            "limit",
            "sort",
            "library",
            "author",
            "pipeline_tag",
            "q",
            "cursor",
        )
    assert hub.stats.api() == []
