"""GET /api/hub/models/{id}/variants: the base_model filter, sizes, ranking, the name fallback."""

from __future__ import annotations

import pytest

from modelyard_dev.fake_hub import FakeHub
from tests.manager.hub.conftest import Manager

pytestmark = pytest.mark.asyncio(loop_scope="module")


def repo_size(hub: FakeHub, repo_id: str) -> int:
    return sum(f.size for f in hub.repo(repo_id).files.values())


def rows(body: dict) -> list[tuple[str, str | None, int | None]]:
    return [
        (v["id"], v["quant"]["label"] if v["quant"] else None, v["size"]) for v in body["variants"]
    ]


async def test_mlx_variants(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Base-7B/variants", params={"format": "mlx"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["base_model"] == "Acme/Base-7B"
    assert body["format"] == "mlx" and body["match"] == "base_model"
    # someone/Base-7B-4bit-mlx declares "acme/base-7b": not the canonical id, not linked.
    assert [v["id"] for v in body["variants"]] == [
        "mlx-community/Base-7B-4bit",
        "mlx-community/Base-7B-8bit",
    ]
    four, eight = body["variants"]
    assert four["quant"] == {"label": "4bit", "bits": 4}
    assert four["files"] == ["README.md", "config.json", "model.safetensors"]
    assert four["size"] == repo_size(hub, "mlx-community/Base-7B-4bit")
    assert eight["quant"] == {"label": "8bit", "bits": 8}
    assert eight["size"] == repo_size(hub, "mlx-community/Base-7B-8bit")
    assert (four["downloads"], eight["downloads"]) == (300, 100)
    listing = next(c for c in hub.stats.api() if c.path == "/api/models")
    assert listing.params("filter") == ["base_model:quantized:Acme/Base-7B", "mlx"]


async def test_gguf_variants_sum_split_parts_and_rank(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Base-7B/variants", params={"format": "gguf"})
    body = r.json()
    assert rows(body) == [
        ("quants/Base-7B-GGUF", "Q4_K_M", 1800),
        ("other/Base-7B-GGUF", "Q4_K_M", 1790),  # same level: most downloaded first
        ("quants/Base-7B-GGUF", "Q8_0", 3700),  # two parts, summed
    ]
    q8 = body["variants"][2]
    assert q8["files"] == [
        "Q8_0/Base-7B-Q8_0-00001-of-00002.gguf",
        "Q8_0/Base-7B-Q8_0-00002-of-00002.gguf",
    ]
    assert all(v["format"] == "gguf" for v in body["variants"])


async def test_both_formats_by_default(manager: Manager) -> None:
    body = (await manager.client.get("/api/hub/models/Acme/Base-7B/variants")).json()
    assert body["format"] is None
    assert [(v["format"], v["quant"]["label"]) for v in body["variants"]] == [
        ("mlx", "4bit"),
        ("gguf", "Q4_K_M"),
        ("gguf", "Q4_K_M"),
        ("mlx", "8bit"),
        ("gguf", "Q8_0"),
    ]


async def test_canonical_id_is_resolved_first(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/models/acme/base-7b/variants", params={"format": "mlx"})
    body = r.json()
    assert body["base_model"] == "Acme/Base-7B"
    assert [v["id"] for v in body["variants"]] == [
        "mlx-community/Base-7B-4bit",
        "mlx-community/Base-7B-8bit",
    ]
    listing = next(c for c in hub.stats.api() if c.path == "/api/models")
    assert listing.params("filter")[0] == "base_model:quantized:Acme/Base-7B"


async def test_name_search_when_no_repo_declares_the_base(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get(
        "/api/hub/models/Lonely/Solo-3B/variants", params={"format": "mlx"}
    )
    body = r.json()
    assert body["match"] == "name"
    assert rows(body) == [("fans/Solo-3B-4bit", "4bit", repo_size(hub, "fans/Solo-3B-4bit"))]
    searches = [c for c in hub.stats.api() if c.path == "/api/models"]
    assert [c.params("search") for c in searches] == [[], ["Solo-3B"]]


async def test_variants_are_cached(manager: Manager, hub: FakeHub) -> None:
    first = await manager.client.get("/api/hub/models/Acme/Base-7B/variants")
    calls = len(hub.stats.api())
    second = await manager.client.get("/api/hub/models/Acme/Base-7B/variants")
    assert second.json() == first.json()
    assert len(hub.stats.api()) == calls


async def test_variants_of_an_unknown_base_is_404(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Nope/variants")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


async def test_bad_format_is_400(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Base-7B/variants", params={"format": "onnx"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "format"
    assert hub.stats.api() == []
