"""``/v1/models``: the merged catalog with the inference server down, the configured catalog,
``?type=``, defaults, and the official ``openai`` client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import httpx2
import openai
import pytest
import respx

from manager.app import create_app
from manager.library.static_catalog import CatalogFileError
from manager.settings import ManagerSettings
from tests.manager.library.conftest import (
    CLOSED_PORT_URL,
    AppFactory,
    Dirs,
    place_folder,
    place_in_cache,
    tiny_files,
    write_gguf,
)

STATIC = [
    {
        "id": "openai/gpt-elsewhere",
        "name": "GPT Elsewhere",
        "description": "Served by another provider",
        "contextLength": 128000,
        "type": "chat",
        "provider": "openai",
    },
    {"id": "org/painter", "type": "image", "provider": "studio"},
    {"id": "org/llama-tiny", "name": "Our Llama", "description": "configured text"},
]


def _place(dirs: Dirs) -> Path:
    place_in_cache(dirs.cache, "org/llama-tiny", tiny_files(max_position_embeddings=2048))
    place_in_cache(
        dirs.cache, "org/embedder", tiny_files(model_type="bert", architectures=["BertModel"])
    )
    place_in_cache(dirs.cache, "org/tiny-embedding")  # a Llama that mlx-lm loads
    place_folder(dirs.models, "mine")
    write_gguf(dirs.models / "quant" / "q.gguf")
    catalog = dirs.outside / "catalog.json"
    catalog.write_text(json.dumps({"data": STATIC}))
    return catalog


async def test_catalog_with_the_inference_server_down(open_app: AppFactory, dirs: Dirs) -> None:
    catalog = _place(dirs)
    started = time.monotonic()
    async with open_app(catalog_file=catalog, default_chat_model="local/mine") as (_a, client):
        response = await client.get("/v1/models")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    cards = {c["id"]: c for c in body["data"]}
    # local/quant (GGUF) is on disk but not loadable: not listed. Which model types the
    # inference server loads cannot be asked while it is down, so org/embedder (bert) is
    # listed; test_model_types_come_from_the_inference_server shows it hidden once the
    # server has said what it loads.
    assert list(cards) == [
        "org/embedder",
        "org/llama-tiny",
        "org/tiny-embedding",
        "local/mine",
        "openai/gpt-elsewhere",
        "org/painter",
    ]
    assert elapsed < 30  # answered although the inference server is down
    mine = cards["local/mine"]
    assert mine["object"] == "model"
    assert mine["owned_by"] == "local"
    assert mine["state"] == "unknown"
    assert mine["default"] is True
    assert mine["contextLength"] == 512
    assert "context_length" not in mine
    assert mine["type"] == "chat"
    assert mine["characteristics"]["architecture_family"] == "Llama"
    assert mine["name"] == "mine"
    assert mine["created"] > 0
    assert cards["org/tiny-embedding"]["type"] == "embedding"
    overridden = cards["org/llama-tiny"]
    assert overridden["name"] == "Our Llama"
    assert overridden["description"] == "configured text"
    assert overridden["contextLength"] == 2048  # from config.json: the file did not set it
    assert overridden["characteristics"]["model_type"] == "llama"
    elsewhere = cards["openai/gpt-elsewhere"]
    assert elsewhere["owned_by"] == "openai"
    assert elsewhere["contextLength"] == 128000
    assert elsewhere["state"] == "unknown"
    assert elsewhere["characteristics"] is None
    assert sum(c["default"] for c in cards.values()) == 1
    # The inference server could not be asked what each model can do.
    assert all(c["capabilities"] is None for c in cards.values())


async def test_type_filter(open_app: AppFactory, dirs: Dirs) -> None:
    catalog = _place(dirs)
    async with open_app(catalog_file=catalog, default_embedding_model="org/tiny-embedding") as (
        _app,
        client,
    ):

        async def ids(kind: str) -> list[str]:
            response = await client.get("/v1/models", params={"type": kind})
            assert response.status_code == 200
            return [c["id"] for c in response.json()["data"]]

        # bert cannot be judged while the inference server is down (see the first test)
        assert await ids("embedding") == ["org/embedder", "org/tiny-embedding"]
        assert await ids("image") == ["org/painter"]
        assert await ids("speech") == []
        assert "org/tiny-embedding" not in await ids("chat")
        embedders = (await client.get("/v1/models", params={"type": "embedding"})).json()
        defaults = {c["id"]: c["default"] for c in embedders["data"]}
        assert defaults == {"org/embedder": False, "org/tiny-embedding": True}
        bad = await client.get("/v1/models", params={"type": "video"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "type"


async def test_one_entry_and_not_found(open_app: AppFactory, dirs: Dirs) -> None:
    catalog = _place(dirs)
    async with open_app(catalog_file=catalog) as (_app, client):
        one = await client.get("/v1/models/local/mine")
        encoded = await client.get("/v1/models/local%2Fmine")
        configured = await client.get("/v1/models/openai/gpt-elsewhere")
        missing = await client.get("/v1/models/nobody/nothing")
    assert one.status_code == 200
    assert one.json()["id"] == "local/mine"
    assert encoded.json() == one.json()
    assert configured.json()["name"] == "GPT Elsewhere"
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "model"
    assert error["src"] == "manager"


async def test_catalog_file_changes_are_picked_up(open_app: AppFactory, dirs: Dirs) -> None:
    catalog = _place(dirs)
    async with open_app(catalog_file=catalog) as (_app, client):
        first = [c["id"] for c in (await client.get("/v1/models")).json()["data"]]
        catalog.write_text(json.dumps([{"id": "acme/new-one", "type": "speech"}]))
        second = [c["id"] for c in (await client.get("/v1/models")).json()["data"]]
        catalog.write_text("{broken")
        third = [c["id"] for c in (await client.get("/v1/models")).json()["data"]]
    assert "openai/gpt-elsewhere" in first
    assert "acme/new-one" in second and "openai/gpt-elsewhere" not in second
    assert third == second  # a broken edit keeps the last good catalog


async def test_broken_catalog_file_stops_the_start(
    make_settings: Callable[..., ManagerSettings], dirs: Dirs
) -> None:
    broken = dirs.outside / "catalog.json"
    broken.write_text(json.dumps([{"name": "no id"}]))
    app = create_app(make_settings(catalog_file=broken))
    with pytest.raises(CatalogFileError, match="id"):
        async with app.router.lifespan_context(app):
            pass


async def test_openai_client_lists_and_retrieves(open_app: AppFactory, dirs: Dirs) -> None:
    catalog = _place(dirs)
    async with open_app(catalog_file=catalog) as (app, _client):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://localhost") as http:
            client = openai.AsyncOpenAI(
                base_url="http://localhost/v1", api_key="unused", http_client=http, max_retries=0
            )
            listed = [m async for m in client.models.list()]
            one = await client.models.retrieve("local/mine")
            with pytest.raises(openai.NotFoundError) as caught:
                await client.models.retrieve("nobody/nothing")
    assert {m.id for m in listed} >= {"local/mine", "org/llama-tiny", "openai/gpt-elsewhere"}
    assert one.id == "local/mine"
    assert one.object == "model"
    assert one.owned_by == "local"
    assert (one.model_extra or {}).get("contextLength") == 512
    assert caught.value.code == "model_not_found"


async def test_compatibility_against_the_pool_budget(open_app: AppFactory, dirs: Dirs) -> None:
    place_in_cache(dirs.cache, "org/llama-tiny")
    pool = {"slots": [], "max_memory_bytes": 100_000, "max_models": 2, "used_memory_bytes": 0}
    with respx.mock(base_url=CLOSED_PORT_URL, assert_all_called=False) as mock:
        mock.get("/admin/pool").mock(return_value=httpx.Response(200, json=pool))
        async with open_app() as (_app, client):
            report = (await client.get("/api/models/compatibility/org/llama-tiny")).json()
            bigger = await client.get(
                "/api/models/compatibility/org/llama-tiny", params={"context_tokens": 8192}
            )
            listed = (await client.get("/api/models/local")).json()["data"][0]
    assert report["compatible"] is False
    assert report["label"] == "too-big"
    assert report["local"] is True
    assert "exceeds_budget" in {r["code"] for r in report["reasons"]}
    assert report["requirements"]["budget_bytes"] == 100_000
    assert report["requirements"]["context_tokens"] == 512  # the model's own window
    assert bigger.json()["requirements"]["context_tokens"] == 8192
    assert listed["compatibility"]["label"] == "too-big"
    assert listed["state"] == "not-loaded"


async def test_compatibility_of_unknown_models(open_app: AppFactory, dirs: Dirs) -> None:
    async with open_app() as (_app, client):
        local = await client.get("/api/models/compatibility/local/nothing")
        invalid = await client.get("/api/models/compatibility/..%2Fx")
    assert local.status_code == 404
    assert local.json()["error"]["code"] == "model_not_found"
    assert invalid.status_code == 400


async def test_models_that_cannot_load_are_not_served(open_app: AppFactory, dirs: Dirs) -> None:
    """``/v1/models`` lists only what the inference server can load; ``/api/models/local``
    still shows the others, with their verdict.

    Reproduction: a GGUF-only repo in the cache was listed in ``/v1/models`` as
    ``type: "chat"`` (and so was one with only ``pytorch_model.bin``); both failed only when
    someone chatted.
    """
    place_in_cache(dirs.cache, "org/runs")
    write_gguf(dirs.models / "quant" / "q.gguf")
    pickle_only = {k: v for k, v in tiny_files().items() if k != "model.safetensors"}
    place_in_cache(dirs.cache, "org/pickle", {**pickle_only, "pytorch_model.bin": b"\x80\x02"})
    async with open_app() as (_app, client):
        served = [c["id"] for c in (await client.get("/v1/models")).json()["data"]]
        local = {m["id"]: m for m in (await client.get("/api/models/local")).json()["data"]}
        one = await client.get("/v1/models/local/quant")
    assert served == ["org/runs"]
    assert {i: m["compatibility"]["label"] for i, m in local.items()} == {
        "local/quant": "not-loadable",
        "org/pickle": "not-loadable",
        "org/runs": "runs",
    }
    assert one.status_code == 404


async def test_model_types_come_from_the_inference_server(open_app: AppFactory, dirs: Dirs) -> None:
    """Once the inference server has said which model types it loads, a model of another type
    leaves ``/v1/models`` (and keeps its verdict in ``/api/models/local``)."""
    catalog = _place(dirs)
    capabilities = {
        "version": "0",
        "mlx_version": None,
        "mlx_lm_version": None,
        "model_types": ["llama"],
        "hf_cache_dir": str(dirs.cache),
        "models_dirs": [str(dirs.models)],
        "memory_budget_bytes": 2**34,
        "max_models": 4,
        "cpu_blas": None,
        "features": ["chat"],
    }
    pool = {"slots": [], "max_memory_bytes": 2**34, "max_models": 4, "used_memory_bytes": 0}
    with respx.mock(base_url=CLOSED_PORT_URL, assert_all_called=False) as mock:
        mock.get("/health").mock(return_value=httpx.Response(200, json={"status": "ok"}))
        mock.get("/admin/capabilities").mock(return_value=httpx.Response(200, json=capabilities))
        mock.get("/admin/pool").mock(return_value=httpx.Response(200, json=pool))
        listed = {"data": [{"id": "org/llama-tiny", "capabilities": ["chat", "tools"]}]}
        mock.get("/v1/models").mock(return_value=httpx.Response(200, json=listed))
        async with open_app(catalog_file=catalog) as (_app, client):
            await client.get("/ready")  # the manager asks the server now
            cards = {c["id"]: c for c in (await client.get("/v1/models")).json()["data"]}
            local = {m["id"]: m for m in (await client.get("/api/models/local")).json()["data"]}
    served = list(cards)
    assert "org/embedder" not in served
    # Capabilities are the inference server's; a model it does not list has none.
    assert cards["org/llama-tiny"]["capabilities"] == ["chat", "tools"]
    assert cards["local/mine"]["capabilities"] is None
    assert "org/llama-tiny" in served
    assert local["org/embedder"]["compatibility"]["label"] == "not-loadable"
