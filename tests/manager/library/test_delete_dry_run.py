"""``DELETE /api/models/local/{id}?dry_run=true``: what a delete would remove and what stays,
with nothing touched; the real delete says the same."""

from __future__ import annotations

from tests.manager.library.conftest import (
    AppFactory,
    Dirs,
    place_folder,
    place_in_cache,
    tiny_files,
    tree_snapshot,
)


async def test_dry_run_of_a_hub_model_touches_nothing(open_app: AppFactory, dirs: Dirs) -> None:
    old = place_in_cache(dirs.cache, "org/gone", tiny_files(max_position_embeddings=256))
    new = place_in_cache(dirs.cache, "org/gone", tiny_files(max_position_embeddings=1024))
    before = tree_snapshot(dirs.cache)
    async with open_app() as (_app, client):
        dry = await client.delete("/api/models/local/org/gone", params={"dry_run": "true"})
        after_dry = tree_snapshot(dirs.cache)
        listed = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]
        real = await client.delete("/api/models/local/org/gone")
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    assert plan["dry_run"] is True and plan["unloaded"] is None
    assert sorted(plan["removed_revisions"]) == sorted([old.name, new.name])
    assert plan["removed_paths"] == [str(dirs.cache / "models--org--gone")]
    assert plan["kept_paths"] == []
    assert after_dry == before and listed == ["org/gone"]
    done = real.json()
    assert done["dry_run"] is False
    for key in ("freed_bytes", "removed_revisions", "removed_paths", "kept_paths"):
        assert done[key] == plan[key], key
    assert not (dirs.cache / "models--org--gone").exists()


async def test_dry_run_of_an_import_names_its_origin(open_app: AppFactory, dirs: Dirs) -> None:
    source = place_folder(dirs.outside, "origin")
    async with open_app() as (_app, client):
        imported = await client.post("/api/models/import", json={"path": str(source)})
        assert imported.status_code == 201, imported.text
        dry = await client.delete("/api/models/local/local/origin?dry_run=true")
        still = await client.get("/api/models/local/local/origin")
        real = await client.delete("/api/models/local/local/origin")
    assert dry.status_code == 200, dry.text
    assert dry.json()["removed_paths"] == [str(dirs.models / "origin")]
    assert dry.json()["kept_paths"] == [str(source)]
    assert still.status_code == 200
    assert real.json()["kept_paths"] == [str(source)]
    assert source.is_dir()


async def test_dry_run_of_a_missing_model_is_404(open_app: AppFactory) -> None:
    async with open_app() as (_app, client):
        r = await client.delete("/api/models/local/org/none?dry_run=true")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
