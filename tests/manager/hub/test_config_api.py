"""GET /api/models/config/{id}: the local copy first (cache or imported folder), else the Hub."""

from __future__ import annotations

import json

import pytest

from modelyard_dev.fake_hub import FakeHub
from tests.manager.hub.conftest import LLAMA_CONFIG, TOKEN, MakeManager, Manager, js
from tests.manager.hub.test_local_config import cache_model

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_imported_model_is_read_locally(make_manager: MakeManager, hub: FakeHub) -> None:
    manager = await make_manager()  # its own disk
    folder = manager.settings.local_models_dir / "tiny"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps({"model_type": "qwen2", "max_position_embeddings": 4096})
    )
    r = await manager.client.get("/api/models/config/local/tiny")
    assert r.status_code == 200
    body = r.json()
    assert (body["model_id"], body["source"], body["revision"]) == ("local/tiny", "local", None)
    assert body["characteristics"]["badges"] == ["Qwen", "4K ctx"]
    assert hub.stats.api() == [] and hub.stats.files == {}


async def test_cached_hub_model_is_read_locally(make_manager: MakeManager, hub: FakeHub) -> None:
    manager = await make_manager()  # its own disk
    local = LLAMA_CONFIG | {"max_position_embeddings": 8192}
    cache_model(manager.settings.hub_cache, "Acme/Base-7B", json.dumps(local).encode())
    body = (await manager.client.get("/api/models/config/Acme/Base-7B")).json()
    assert body["source"] == "local"
    assert body["revision"] == "a" * 40
    assert body["characteristics"]["context_length"] == 8192
    assert hub.stats.files == {}


async def test_remote_config_when_no_local_copy(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/models/config/Acme/Vision-2B")
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "hub"
    assert body["revision"] == hub.repo("Acme/Vision-2B").sha
    assert body["characteristics"]["multimodal_type"] == "vision"
    again = await manager.client.get("/api/models/config/Acme/Vision-2B")
    assert again.json() == body
    assert hub.stats.file("Acme/Vision-2B", "config.json").get == 1


async def test_neither_local_nor_remote_is_404(manager: Manager) -> None:
    local = await manager.client.get("/api/models/config/local/absent")
    assert local.status_code == 404
    assert local.json()["error"]["code"] == "model_not_found"
    assert local.json()["error"]["src"] == "manager"
    remote = await manager.client.get("/api/models/config/Acme/Absent")
    assert remote.status_code == 404
    assert remote.json()["error"]["code"] == "model_not_found"
    assert remote.json()["error"]["src"] == "hub"
    no_config = await manager.client.get("/api/models/config/quants/Base-7B-GGUF")
    assert no_config.status_code == 404
    assert "config.json" in no_config.json()["error"]["message"]


async def test_gated_config_is_403_with_steps(manager: Manager) -> None:
    r = await manager.client.get("/api/models/config/Acme/Gated-1B")
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "HUB_ACCESS_DENIED"
    assert error["type"] == "permission_error"
    assert error["src"] == "hub"
    assert error["details"]["gated"] is True
    steps = " ".join(error["resolution_steps"])
    assert "HF_TOKEN" in steps and "licence" in steps


async def test_gated_config_with_a_token(make_manager) -> None:
    manager = await make_manager(hf_token=TOKEN)
    r = await manager.client.get("/api/models/config/Acme/Gated-1B")
    assert r.status_code == 200
    assert TOKEN not in r.text


async def test_characteristics_name_the_context_window_twice(
    make_manager: MakeManager, hub: FakeHub
) -> None:
    """The context window is returned as ``context_length`` and, with the same value, as
    ``max_position_embeddings`` (the name frontends built on mlx-manager's characteristics
    read), in the config and details answers alike.

    Reproduction: ``GET /api/models/config/Acme/Vision-2B`` and
    ``GET /api/hub/models/Acme/Base-7B`` answered ``context_length`` only.
    """
    manager = await make_manager()  # its own disk
    cache_model(manager.settings.hub_cache, "Acme/Local-7B", js(LLAMA_CONFIG))
    local = (await manager.client.get("/api/models/config/Acme/Local-7B")).json()
    remote = (await manager.client.get("/api/models/config/Acme/Vision-2B")).json()
    details = (await manager.client.get("/api/hub/models/Acme/Base-7B")).json()
    assert (local["source"], remote["source"]) == ("local", "hub")
    for body, tokens in ((local, 131072), (remote, 32768), (details, 131072)):
        ch = body["characteristics"]
        assert (ch["context_length"], ch["max_position_embeddings"]) == (tokens, tokens)
