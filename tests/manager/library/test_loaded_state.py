"""Loaded state, against a real inference server: pool routes through the manager, the catalog
merging local + loaded + configured, and delete unloading first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard_dev.procs import Service, inference_service
from modelyard_dev.tiny_model import TINY, write_model
from tests.manager.library.conftest import AppFactory


@dataclass
class Served:
    service: Service
    models: Path  # shared by the manager and the inference server
    extra: Path  # seen by the inference server only
    cache: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    models = tmp_path_factory.mktemp("shared-models")
    extra = tmp_path_factory.mktemp("inference-only")
    cache = tmp_path_factory.mktemp("shared-cache")
    write_model(models / "tiny-a", TINY, seed=0)
    write_model(models / "doomed", TINY, seed=1)
    write_model(extra / "remote", TINY, seed=2)
    service = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": f"{models},{extra}",
            "MLX_SERVER_HF_CACHE_DIR": str(cache),
        },
        log_dir=tmp_path_factory.mktemp("inference-logs"),
    )
    service.start()
    yield Served(service, models, extra, cache)
    service.stop()


async def test_pool_through_the_manager_and_merged_catalog(
    open_app: AppFactory, served: Served, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"id": "acme/hosted", "name": "Hosted", "type": "chat"}]))
    settings = {
        "inference_url": served.service.url,
        "models_dir": served.models,
        "hf_cache_dir": served.cache,
        "catalog_file": catalog,
        "catalog_pool_ttl_s": 0,
    }
    async with open_app(**settings) as (_app, client):
        pool = await client.get("/api/inference/pool")
        before = {c["id"]: c["state"] for c in (await client.get("/v1/models")).json()["data"]}
        loaded = await client.post("/api/inference/models/local/tiny-a/load")
        remote = await client.post("/api/inference/models/local/remote/load", json={"pin": False})
        cards = {c["id"]: c for c in (await client.get("/v1/models")).json()["data"]}
        local = {m["id"]: m for m in (await client.get("/api/models/local")).json()["data"]}
        unloaded = await client.post("/api/inference/models/local/tiny-a/unload")
        after = {c["id"]: c["state"] for c in (await client.get("/v1/models")).json()["data"]}
        bad = await client.post("/api/inference/models/..%2Fx/load")
        missing = await client.post("/api/inference/models/local/nothing/load")
        await client.post("/api/inference/models/local/remote/unload")

    assert pool.status_code == 200
    assert pool.json()["max_memory_bytes"] > 0
    assert before == {
        "local/doomed": "not-loaded",
        "local/tiny-a": "not-loaded",
        "acme/hosted": "unknown",
    }
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["loaded"] is True
    assert remote.status_code == 200, remote.text
    assert list(cards) == ["local/doomed", "local/tiny-a", "local/remote", "acme/hosted"]
    assert cards["local/tiny-a"]["state"] == "loaded"
    assert cards["local/tiny-a"]["characteristics"]["model_type"] == "llama"
    assert cards["local/remote"]["state"] == "loaded"  # loaded, not on this disk
    assert cards["local/remote"]["characteristics"] is None
    assert cards["local/doomed"]["state"] == "not-loaded"
    assert cards["acme/hosted"]["name"] == "Hosted"
    assert local["local/tiny-a"]["state"] == "loaded"
    assert local["local/tiny-a"]["last_used_at"] is not None
    assert local["local/doomed"]["last_used_at"] is None
    assert unloaded.json() == {"id": "local/tiny-a", "unloaded": True}
    assert after["local/tiny-a"] == "not-loaded"
    assert "local/remote" in after
    assert bad.status_code == 400
    assert missing.status_code == 404
    assert missing.json()["error"]["src"] == "inference_server"


async def test_delete_unloads_first(open_app: AppFactory, served: Served) -> None:
    settings = {
        "inference_url": served.service.url,
        "models_dir": served.models,
        "hf_cache_dir": served.cache,
    }
    async with open_app(**settings) as (_app, client):
        loaded = await client.post("/api/inference/models/local/doomed/load")
        assert loaded.status_code == 200, loaded.text
        response = await client.delete("/api/models/local/local/doomed")
        pool = (await client.get("/api/inference/pool")).json()
        report = (await client.get("/api/models/compatibility/local/tiny-a")).json()
    assert response.status_code == 200, response.text
    assert response.json()["unloaded"] is True
    assert "local/doomed" not in {slot["id"] for slot in pool["slots"]}
    assert not (served.models / "doomed").exists()
    assert report["compatible"] is True
    assert report["requirements"]["budget_bytes"] == pool["max_memory_bytes"]
