"""Storage stats and cleanup: partial files, unreferenced blobs, stale imports; dry run vs real."""

from __future__ import annotations

import os
import time
from pathlib import Path

from manager.library.ownership import DownloadOwnership
from tests.manager.library.conftest import (
    AppFactory,
    Dirs,
    place_folder,
    place_in_cache,
    tree_snapshot,
)

HOUR = 3600.0


def _age(path: Path, seconds: float) -> None:
    """Make ``path`` and everything under it look ``seconds`` old."""
    when = time.time() - seconds
    for dirpath, _dirs, filenames in os.walk(path):
        for name in filenames:
            os.utime(Path(dirpath) / name, (when, when), follow_symlinks=False)
    os.utime(path, (when, when), follow_symlinks=False)


def _loose_files(dirs: Dirs) -> dict[str, Path]:
    place_in_cache(dirs.cache, "org/model")
    blobs = dirs.cache / "models--org--model" / "blobs"
    files = {
        "old_partial": blobs / ("a" * 64 + ".incomplete"),
        "fresh_partial": blobs / ("b" * 64 + ".incomplete"),
        "orphan_blob": blobs / ("c" * 64),
        "stale_import": dirs.models / ".import-x-0123456789ab",
    }
    files["old_partial"].write_bytes(b"x" * 1000)
    files["fresh_partial"].write_bytes(b"y" * 500)
    files["orphan_blob"].write_bytes(b"z" * 300)
    place_folder(dirs.models, files["stale_import"].name, {"config.json": b"{}"})
    for name in ("old_partial", "orphan_blob", "stale_import"):
        _age(files[name], HOUR)
    return files


async def test_stats(open_app: AppFactory, dirs: Dirs) -> None:
    _loose_files(dirs)
    place_folder(dirs.models, "mine")
    async with open_app() as (_app, client):
        response = await client.get("/api/storage/stats")
        models = (await client.get("/api/models/local")).json()["data"]
    assert response.status_code == 200
    stats = response.json()
    sizes = {m["id"]: m["size_bytes"] for m in models}
    assert {m["id"]: m["size_bytes"] for m in stats["models"]} == sizes
    assert stats["models_bytes"] == sum(sizes.values())
    assert stats["partial_bytes"] == 1500
    assert {p["size_bytes"]: p["protected"] for p in stats["partial_downloads"]} == {
        1000: False,
        500: True,
    }
    assert all(p["model_id"] == "org/model" for p in stats["partial_downloads"])
    kinds = sorted(f["kind"] for f in stats["unreferenced"])
    assert kinds == ["stale_import", "unreferenced_blob"]
    assert stats["unreferenced_bytes"] == 300 + 2
    assert stats["total_bytes"] == stats["models_bytes"] + 1500 + 302
    assert stats["free_bytes"] > 0
    assert stats["disks"][0]["total_bytes"] >= stats["disks"][0]["free_bytes"]


async def test_cleanup_dry_run_then_real(open_app: AppFactory, dirs: Dirs) -> None:
    files = _loose_files(dirs)
    before = tree_snapshot(dirs.cache), tree_snapshot(dirs.models)
    async with open_app() as (_app, client):
        size = (await client.get("/api/models/local/org/model")).json()["size_bytes"]
        dry = await client.post("/api/storage/cleanup", params={"dry_run": "true"})
        after_dry = tree_snapshot(dirs.cache), tree_snapshot(dirs.models)
        real = await client.post("/api/storage/cleanup")
        model = await client.get("/api/models/local/org/model")
        again = await client.post("/api/storage/cleanup")

    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True
    would = {Path(f["path"]) for f in dry.json()["removed"]}
    assert would == {files["old_partial"], files["orphan_blob"], files["stale_import"]}
    assert dry.json()["freed_bytes"] == 1000 + 300 + 2
    assert [Path(f["path"]) for f in dry.json()["kept"]] == [files["fresh_partial"]]
    assert after_dry == before

    assert real.json()["dry_run"] is False
    assert {Path(f["path"]) for f in real.json()["removed"]} == would
    assert not files["old_partial"].exists()
    assert not files["orphan_blob"].exists()
    assert not files["stale_import"].exists()
    assert files["fresh_partial"].exists()
    assert model.status_code == 200, "the model's own blobs are untouched"
    assert model.json()["size_bytes"] == size - 300
    snapshot = Path(model.json()["path"])
    assert all((snapshot / name).resolve().exists() for name in os.listdir(snapshot))
    assert again.json()["removed"] == []


async def test_an_import_still_writing_is_kept(open_app: AppFactory, dirs: Dirs) -> None:
    files = _loose_files(dirs)
    (files["stale_import"] / "config.json").write_bytes(b"{}")  # written just now
    async with open_app() as (_app, client):
        result = (await client.post("/api/storage/cleanup")).json()
    assert files["stale_import"] in {Path(f["path"]) for f in result["kept"]}
    assert files["stale_import"].exists()


async def test_partials_of_a_job_are_kept(open_app: AppFactory, dirs: Dirs) -> None:
    from manager.library.service import Library

    files = _loose_files(dirs)
    async with open_app() as (app, _client):
        library: Library = app.state.library
        result = await library.cleanup({"org/model"}, dry_run=False)
    assert {Path(f["path"]) for f in result.model_dump()["removed"]} == {files["stale_import"]}
    assert files["old_partial"].exists()
    assert files["orphan_blob"].exists()


async def test_jobs_are_read_from_the_download_manager(open_app: AppFactory) -> None:
    async with open_app() as (app, _client):
        ownership: DownloadOwnership = app.state.downloads
        assert await ownership.owned_model_ids() == set()
