"""GET /api/hub/models/{id}: files, sizes, selections, characteristics, card, flags, caching."""

from __future__ import annotations

import asyncio

import pytest

from modelyard_dev.fake_hub import FakeHub
from tests.manager.hub.conftest import TOKEN, Manager

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_details_of_a_text_model(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Base-7B")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "Acme/Base-7B"
    assert body["sha"] == hub.repo("Acme/Base-7B").sha
    assert (body["downloads"], body["likes"]) == (500, 40)
    assert body["library_name"] == "transformers"
    assert body["pipeline_tag"] == "text-generation"
    assert body["license"] == "apache-2.0"
    assert body["card_summary"] == (
        "Base-7B is a dense decoder-only language model trained on a large and varied corpus."
    )
    assert body["gated"] is False and body["gated_mode"] is None
    sizes = {f["path"]: f["size"] for f in body["files"]}
    assert sizes["model-00001-of-00002.safetensors"] == 3000
    assert sizes["tokenizer.json"] == 2
    weights = next(f for f in body["files"] if f["path"].endswith("1-of-00002.safetensors"))
    assert weights["lfs"] is True and len(weights["sha256"]) == 64
    assert weights["weights_format"] == "safetensors" and weights["unsafe_format"] is False
    assert body["total_size"] == sum(sizes.values())
    (selection,) = body["selections"]
    assert selection["format"] == "safetensors"
    assert selection["size"] == body["total_size"]
    assert body["config_status"] == "ok"
    ch = body["characteristics"]
    assert ch["architecture_family"] == "Llama"
    assert ch["context_length"] == 131072
    assert ch["num_key_value_heads"] == 8
    assert body["badges"] == ["Llama", "128K ctx", "8B"]
    assert body["unsafe_format"] is False
    assert body["stale"] is False


async def test_details_of_a_vlm(manager: Manager) -> None:
    body = (await manager.client.get("/api/hub/models/Acme/Vision-2B")).json()
    ch = body["characteristics"]
    assert ch["is_multimodal"] is True and ch["multimodal_type"] == "vision"
    assert ch["context_length"] == 32768  # from text_config
    assert body["badges"][:3] == ["Qwen", "Vision", "32K ctx"]


async def test_details_of_an_mlx_4bit_repo(manager: Manager) -> None:
    body = (await manager.client.get("/api/hub/models/mlx-community/Base-7B-4bit")).json()
    assert body["base_models"] == ["Acme/Base-7B"]
    (selection,) = body["selections"]
    assert selection["name"] == selection["format"] == "mlx"
    assert selection["quant"] == {"label": "4bit", "bits": 4}
    assert selection["files"] == ["README.md", "config.json", "model.safetensors"]
    assert body["characteristics"]["quantization_bits"] == 4
    assert body["characteristics"]["quantization_method"] == "mlx"
    assert body["badges"][:2] == ["Llama", "4-bit"]


async def test_details_of_a_gguf_repo(manager: Manager) -> None:
    body = (await manager.client.get("/api/hub/models/quants/Base-7B-GGUF")).json()
    assert body["config_status"] == "missing"
    assert body["characteristics"] is None
    selections = {s["name"]: s for s in body["selections"]}
    assert list(selections) == ["Q4_K_M", "Q8_0", "mmproj-Base-7B-f16"]
    assert selections["Q8_0"]["size"] == 2000 + 1700
    assert selections["Q8_0"]["files"] == [
        "Q8_0/Base-7B-Q8_0-00001-of-00002.gguf",
        "Q8_0/Base-7B-Q8_0-00002-of-00002.gguf",
    ]
    assert selections["Q4_K_M"]["size"] == 1800
    assert all(s["format"] == "gguf" for s in body["selections"])


async def test_pickle_weights_are_flagged(manager: Manager) -> None:
    body = (await manager.client.get("/api/hub/models/Acme/Pickle-1B")).json()
    assert body["unsafe_format"] is True
    flagged = [f["path"] for f in body["files"] if f["unsafe_format"]]
    assert flagged == ["pytorch_model.bin"]
    assert body["selections"] == []  # nothing safe to download


async def test_gated_model_details_say_so(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Gated-1B")
    assert r.status_code == 200
    body = r.json()
    assert body["gated"] is True and body["gated_mode"] == "manual"
    assert body["config_status"] == "gated"
    assert body["characteristics"] is None
    assert body["license"] == "acme-licence"
    assert hub.stats.file("Acme/Gated-1B", "config.json").bytes_sent == 0


async def test_gated_model_with_a_token(make_manager, hub: FakeHub) -> None:
    manager = await make_manager(hf_token=TOKEN)
    body = (await manager.client.get("/api/hub/models/Acme/Gated-1B")).json()
    assert body["config_status"] == "ok"
    assert body["characteristics"]["architecture_family"] == "Llama"
    assert TOKEN not in (await manager.client.get("/api/hub/models/Acme/Gated-1B")).text


async def test_second_details_call_makes_no_hub_request(manager: Manager, hub: FakeHub) -> None:
    first = await manager.client.get("/api/hub/models/Acme/Base-7B")
    calls, config_gets = len(hub.stats.api()), hub.stats.file("Acme/Base-7B", "config.json").get
    assert calls == 1 and config_gets == 1
    assert hub.stats.file("Acme/Base-7B", "README.md").get == 1
    second = await manager.client.get("/api/hub/models/Acme/Base-7B")
    assert second.json() == first.json()
    assert len(hub.stats.api()) == 1
    assert hub.stats.file("Acme/Base-7B", "config.json").get == 1
    assert hub.stats.file("Acme/Base-7B", "README.md").get == 1
    assert manager.metric("modelyard_manager_hub_cache_hits_total") >= 3


async def test_concurrent_details_share_requests(manager: Manager, hub: FakeHub) -> None:
    responses = await asyncio.gather(
        *(manager.client.get("/api/hub/models/Acme/Vision-2B") for _ in range(5))
    )
    assert {r.status_code for r in responses} == {200}
    assert len(hub.stats.api()) == 1
    assert hub.stats.file("Acme/Vision-2B", "config.json").get == 1


async def test_unknown_model_is_404(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Nope-1B")
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["type"] == "not_found_error"
    assert error["src"] == "hub"
    assert error["details"] == {"model_id": "Acme/Nope-1B"}
    assert error["resolution_steps"]
