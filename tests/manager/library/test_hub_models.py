"""Models put in the cache by ``huggingface_hub`` itself, and compatibility of Hub models not
downloaded, both against the loopback fake Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants, scan_cache_dir, snapshot_download

from modelyard_dev.fake_hub import FakeHub
from tests.manager.library.conftest import AppFactory, Dirs, tiny_files, write_gguf


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    hub = FakeHub()
    hub.add_tiny_model("org/tiny-mlx")
    hub.add_tiny_model("org/tiny-other", seed=3)
    gguf = write_gguf(tmp_path_factory.mktemp("gguf") / "tiny-Q4_K_M.gguf")
    hub.add_repo("org/tiny-GGUF", {"tiny-Q4_K_M.gguf": gguf.read_bytes()}, tags=["gguf"])
    hub.add_repo(
        "org/pickled",
        {
            "config.json": tiny_files()["config.json"],
            "pytorch_model.bin": b"\x80\x02pickled weights",
        },
    )
    with hub.serve() as url:
        yield url


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


async def test_model_downloaded_by_huggingface_hub(
    open_app: AppFactory, dirs: Dirs, hub_url: str
) -> None:
    folder = Path(
        snapshot_download("org/tiny-mlx", endpoint=hub_url, cache_dir=dirs.cache, token=False)
    )
    snapshot_download("org/tiny-other", endpoint=hub_url, cache_dir=dirs.cache, token=False)
    async with open_app() as (_app, client):
        listed = {m["id"]: m for m in (await client.get("/api/models/local")).json()["data"]}
        deleted = await client.delete("/api/models/local/org/tiny-mlx")
        after = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]
    model = listed["org/tiny-mlx"]
    assert model["revision"] == folder.name
    assert model["path"] == str(folder)
    assert model["characteristics"]["model_type"] == "llama"
    assert model["size_bytes"] == sum(len(d) for d in tiny_files().values())
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removed_revisions"] == [folder.name]
    assert after == ["org/tiny-other"]
    repos = {repo.repo_id for repo in scan_cache_dir(dirs.cache).repos}
    assert repos == {"org/tiny-other"}, "the cache stays valid for huggingface_hub"


async def test_compatibility_of_hub_models(open_app: AppFactory, hub_url: str) -> None:
    async with open_app(hf_endpoint=hub_url) as (_app, client):
        mlx = await client.get("/api/models/compatibility/org/tiny-mlx")
        gguf = await client.get("/api/models/compatibility/org/tiny-GGUF")
        pickled = await client.get("/api/models/compatibility/org/pickled")
        missing = await client.get("/api/models/compatibility/org/not-on-the-hub")
    assert mlx.status_code == 200, mlx.text
    report = mlx.json()
    assert report["local"] is False
    assert report["compatible"] is True
    assert report["requirements"]["format"] == "mlx"
    assert report["requirements"]["weights_bytes"] == len(tiny_files()["model.safetensors"])
    assert gguf.json()["label"] == "not-loadable"
    assert "unsupported_format" in {r["code"] for r in gguf.json()["reasons"]}
    assert "unsafe_format" in {r["code"] for r in pickled.json()["reasons"]}
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


async def test_search_with_verdicts_gives_each_result_its_report(
    open_app: AppFactory, hub_url: str
) -> None:
    """``GET /api/hub/search?verdicts=true``: every result carries the report that
    ``GET /api/models/compatibility/{id}`` gives for it, in one answer; without the option,
    none. A repository the Hub will not describe keeps ``compatibility: null`` and the page
    stands."""
    async with open_app(hf_endpoint=hub_url) as (_app, client):
        plain = await client.get("/api/hub/search", params={"author": "org"})
        judged = await client.get("/api/hub/search", params={"author": "org", "verdicts": "true"})
        one_by_one = {
            r["id"]: (await client.get(f"/api/models/compatibility/{r['id']}")).json()
            for r in judged.json()["results"]
        }
        bad = await client.get("/api/hub/search", params={"verdicts": "maybe"})
    assert plain.status_code == 200 and judged.status_code == 200, judged.text
    assert [r["compatibility"] for r in plain.json()["results"]] == [None] * 4
    results = {r["id"]: r["compatibility"] for r in judged.json()["results"]}
    assert set(results) == {"org/tiny-mlx", "org/tiny-other", "org/tiny-GGUF", "org/pickled"}
    assert results == one_by_one
    assert results["org/tiny-mlx"]["label"] == "runs"
    assert results["org/tiny-GGUF"]["label"] == "not-loadable"
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "verdicts"


async def test_search_verdicts_ask_the_hub_only_what_a_verdict_needs(
    open_app: AppFactory, tmp_path: Path
) -> None:
    """Each verdict reads the repository's description and its config.json, once (the Hub
    cache answers the next page load), never its README; a result whose verdict cannot be
    made is null and the page stands."""
    hub = FakeHub()
    hub.add_tiny_model("org/fine", extra_files={"README.md": b"# Fine\n\nA card.\n"})
    hub.add_tiny_model("org/undescribed", seed=2)
    # The listing names it; its own description fails (every time: retries see it too).
    hub.set_fault(path_glob="/api/models/org/undescribed*", fail_next=100, status=500, target="api")
    with hub.serve() as url:
        async with open_app(hf_endpoint=url) as (_app, client):
            answer = await client.get("/api/hub/search", params={"verdicts": "true"})
            again = await client.get("/api/hub/search", params={"verdicts": "true"})
    assert answer.status_code == 200, answer.text
    results = {r["id"]: r["compatibility"] for r in answer.json()["results"]}
    assert results["org/undescribed"] is None
    assert results["org/fine"]["label"] == "runs"
    assert again.json()["results"] == answer.json()["results"]
    stats = hub.stats
    assert stats.file("org/fine", "README.md").get == 0
    assert stats.file("org/fine", "config.json").get == 1
    assert len(stats.api("/api/models/org/fine")) == 1
