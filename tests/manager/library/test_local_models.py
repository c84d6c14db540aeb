"""``/api/models/local``: listing, filters, one model, the registry kept across restarts."""

from __future__ import annotations

import sqlite3

from tests.manager.library.conftest import (
    AppFactory,
    Dirs,
    place_by_hand,
    place_folder,
    place_in_cache,
    tiny_files,
    write_gguf,
)


def _place_mix(dirs: Dirs) -> None:
    place_in_cache(dirs.cache, "meta/llama-tiny", tiny_files(max_position_embeddings=2048))
    place_in_cache(
        dirs.cache,
        "mlx-community/qwen-tiny-4bit",
        tiny_files(
            model_type="qwen2",
            architectures=["Qwen2ForCausalLM"],
            quantization={"bits": 4, "group_size": 64},
        ),
    )
    place_by_hand(
        dirs.cache,
        "org/vision-tiny",
        tiny_files(vision_config={"depth": 1}, model_type="qwen2_vl"),
    )
    write_gguf(dirs.models / "gguf-tiny" / "tiny-Q4_K_M.gguf")


async def test_list_everything(open_app: AppFactory, dirs: Dirs) -> None:
    _place_mix(dirs)
    async with open_app() as (_app, client):
        response = await client.get("/api/models/local")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4
    assert body["inference_reachable"] is False
    by_id = {m["id"]: m for m in body["data"]}
    assert list(by_id) == sorted(by_id, key=str.lower)
    llama = by_id["meta/llama-tiny"]
    assert llama["source"] == "hub"
    assert llama["state"] == "unknown"  # no inference server
    assert llama["characteristics"]["context_length"] == 2048
    assert llama["badges"] == llama["characteristics"]["badges"]
    assert "Llama" in llama["badges"]
    # No inference server to ask which model types it loads: not checked, a little off.
    assert llama["compatibility"] == {"compatible": True, "score": 0.9, "label": "runs"}
    assert llama["added_at"] is not None
    assert by_id["mlx-community/qwen-tiny-4bit"]["format"] == "mlx"
    gguf_entry = by_id["local/gguf-tiny"]
    assert gguf_entry["format"] == "gguf"
    assert gguf_entry["compatibility"]["label"] == "not-loadable"
    assert gguf_entry["gguf_files"] == ["tiny-Q4_K_M.gguf"]


async def test_filters_and_sorts(open_app: AppFactory, dirs: Dirs) -> None:
    _place_mix(dirs)
    async with open_app() as (_app, client):

        async def ids(**params: str | int | bool) -> list[str]:
            response = await client.get("/api/models/local", params=params)
            assert response.status_code == 200, response.text
            return [m["id"] for m in response.json()["data"]]

        assert await ids(q="QWEN") == ["mlx-community/qwen-tiny-4bit"]
        assert await ids(family="qwen") == [
            "mlx-community/qwen-tiny-4bit",
            "org/vision-tiny",
        ]
        assert await ids(format="gguf") == ["local/gguf-tiny"]
        assert await ids(multimodal=True) == ["org/vision-tiny"]
        assert await ids(quant_bits=4) == ["local/gguf-tiny", "mlx-community/qwen-tiny-4bit"]
        assert await ids(quant_bits=0) == ["meta/llama-tiny", "org/vision-tiny"]
        assert (await ids(sort="-name"))[0] == "org/vision-tiny"
        by_size = await ids(sort="-size")
        assert by_size[-1] == "local/gguf-tiny"  # the GGUF stub is the smallest
        bad = await client.get("/api/models/local", params={"sort": "sideways"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "sort"


async def test_one_model(open_app: AppFactory, dirs: Dirs) -> None:
    place_in_cache(dirs.cache, "org/one")
    place_folder(dirs.models, "mine")
    async with open_app() as (_app, client):
        hub = await client.get("/api/models/local/org/one")
        local = await client.get("/api/models/local/local/mine")
        missing = await client.get("/api/models/local/org/nothing")
        invalid = await client.get("/api/models/local/org/bad%20name")
    assert hub.status_code == 200
    assert hub.json()["id"] == "org/one"
    assert local.json()["source"] == "imported"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "invalid_model_id"


async def test_disk_is_the_truth(open_app: AppFactory, dirs: Dirs) -> None:
    import shutil

    place_in_cache(dirs.cache, "org/a")
    async with open_app() as (_app, client):
        first = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]
        shutil.rmtree(dirs.cache / "models--org--a")
        place_in_cache(dirs.cache, "org/b")
        second = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]
    assert first == ["org/a"]
    assert second == ["org/b"]
    with sqlite3.connect(dirs.data / "modelyard.db") as db:
        rows = [r[0] for r in db.execute("SELECT model_id FROM library_models")]
    assert rows == ["org/b"]


async def test_registry_survives_restart(open_app: AppFactory, dirs: Dirs) -> None:
    place_in_cache(dirs.cache, "org/kept")
    async with open_app() as (_app, client):
        added = (await client.get("/api/models/local/org/kept")).json()["added_at"]
    async with open_app() as (_app, client):
        again = (await client.get("/api/models/local/org/kept")).json()
    assert again["added_at"] == added
    with sqlite3.connect(dirs.data / "modelyard.db") as db:
        row = db.execute(
            "SELECT config_hash, characteristics FROM library_models WHERE model_id = 'org/kept'"
        ).fetchone()
    assert row[0] and len(row[0]) == 64
    assert '"model_type": "llama"' in row[1]


async def test_library_answers_with_the_database_unwritable(
    open_app: AppFactory, dirs: Dirs
) -> None:
    place_in_cache(dirs.cache, "org/a")
    dirs.data.mkdir()
    (dirs.data / "modelyard.db").mkdir()  # a folder where the database file should be
    async with open_app() as (_app, client):
        response = await client.get("/api/models/local")
        catalog = await client.get("/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["org/a"]
    assert response.json()["data"][0]["added_at"] is None
    assert [m["id"] for m in catalog.json()["data"]] == ["org/a"]


async def test_context_window_under_both_names(open_app: AppFactory, dirs: Dirs) -> None:
    """``/api/models/local`` carries the context window as ``context_length`` and as
    ``max_position_embeddings`` (same value); ``/v1/models`` keeps ``contextLength``.

    Reproduction: ``GET /api/models/local`` answered ``characteristics.context_length`` only,
    while frontends built on mlx-manager's characteristics read ``max_position_embeddings``.
    """
    _place_mix(dirs)
    async with open_app() as (_app, client):
        local = (await client.get("/api/models/local")).json()["data"]
        one = (await client.get("/api/models/local/meta/llama-tiny")).json()
        cards = {c["id"]: c for c in (await client.get("/v1/models")).json()["data"]}
    by_id = {m["id"]: m["characteristics"] for m in local}
    assert by_id["meta/llama-tiny"]["max_position_embeddings"] == 2048
    assert one["characteristics"]["max_position_embeddings"] == 2048
    assert by_id["local/gguf-tiny"]["max_position_embeddings"] == 4096  # from the GGUF header
    for ch in by_id.values():
        assert ch["max_position_embeddings"] == ch["context_length"]
    assert cards["meta/llama-tiny"]["contextLength"] == 2048
