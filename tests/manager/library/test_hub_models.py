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
