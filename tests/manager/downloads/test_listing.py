"""Hub listings no folder can hold, and downloads that fail while linking: refused before any
byte is fetched, or rolled back, and never listed as usable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from manager.downloads.cache import STAGING, RepoCache
from modelyard_dev.fake_hub import FakeHub
from tests.manager.downloads.conftest import Manager, ManagerFactory

CONFIG = b'{"model_type": "llama"}\n'


async def listed_ids(m: Manager) -> set[str]:
    local = await m.client.get("/api/models/local")
    catalog = await m.client.get("/v1/models")
    assert local.status_code == 200 and catalog.status_code == 200, (local.text, catalog.text)
    return {model["id"] for model in local.json()["data"]} | {
        model["id"] for model in catalog.json()["data"]
    }


def assert_nothing_in_the_cache(cache: Path, repo_id: str) -> None:
    repo = RepoCache(cache, repo_id)
    for sub in ("snapshots", "refs", STAGING):
        folder = repo.folder / sub
        assert not folder.exists() or not any(folder.iterdir()), sub


def assert_bad_hub_answer(response: Any, says: str) -> dict[str, Any]:
    assert response.status_code == 502, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["code"], error["src"]) == ("bad_hub_answer", "hub")
    assert says in error["message"]
    assert error["resolution_steps"]
    return error


@pytest.mark.parametrize(
    ("repo_id", "extra", "says"),
    [
        ("bad/long-name", {"z" * 300 + ".json": b"{}"}, "longer than 255 bytes"),
        ("bad/file-and-folder", {"config.json/inner.json": b"{}"}, "both as a file and"),
    ],
)
async def test_a_listing_no_folder_can_hold_is_refused_before_any_byte(
    hub: FakeHub, run_manager: ManagerFactory, repo_id: str, extra: dict[str, bytes], says: str
) -> None:
    """Reproduction: a Hub listing with a 300-character file name (ENAMETOOLONG), or with both
    ``config.json`` and ``config.json/inner.json``, was downloaded, then failed while linking
    with ``internal_error``, and ``/api/models/local`` and ``/v1/models`` listed the
    half-linked model as usable."""
    hub.add_tiny_model(repo_id, extra_files=extra)
    async with run_manager() as m:
        response = await m.client.post("/api/downloads", json={"model_id": repo_id})
        assert_bad_hub_answer(response, says)
        assert repo_id not in await listed_ids(m)
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
    # At most config.json is read (by the compatibility check); no other file moves.
    assert hub.stats.gets == hub.stats.file(repo_id, "config.json").get <= 1
    assert_nothing_in_the_cache(m.settings.hub_cache, repo_id)


async def test_a_listing_that_repeats_a_path_is_a_bad_hub_answer(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """Reproduction: a Hub listing with ``config.json`` twice answered 503
    ``DATABASE_UNAVAILABLE`` (the job's file rows could not be saved)."""
    files = {"config.json": CONFIG, "model.safetensors": b"\0" * 64}
    hub.add_repo("bad/twice", files, listing=["config.json", "config.json", "model.safetensors"])
    async with run_manager() as m:
        response = await m.client.post("/api/downloads", json={"model_id": "bad/twice"})
        error = assert_bad_hub_answer(response, "twice")
        assert error["details"]["path"] == "config.json"
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
    # At most config.json is read (by the compatibility check); no other file moves.
    assert hub.stats.gets == hub.stats.file("bad/twice", "config.json").get <= 1


async def test_a_download_that_fails_while_linking_leaves_nothing_listed(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """Reproduction: another tool left a folder named ``tokenizer_config.json`` in the
    snapshot; the download linked ``config.json`` and the weights, failed on that name with
    ``internal_error``, and the model was listed as usable (no ``refs/main``, but the newest
    snapshot is read instead). Now nothing is linked, the error says what failed, and the
    download completes once the folder is gone."""
    repo_id = "link/blocked"
    hub.add_tiny_model(repo_id, seed=5)
    commit = hub.repo(repo_id).sha
    async with run_manager() as m:
        repo = RepoCache(m.settings.hub_cache, repo_id)
        blocker = repo.snapshot(commit) / "tokenizer_config.json"
        (blocker / "x").parent.mkdir(parents=True)
        (blocker / "x").write_text("in the way")
        job = await m.start(repo_id)
        failed = await m.wait(job["id"], "failed", "completed")
        assert failed["status"] == "failed"
        error = failed["error"]
        assert error["code"] == "cache_write_failed", error
        assert "could not be linked" in error["message"]
        assert repo_id not in await listed_ids(m)
        assert sorted(p.name for p in repo.snapshot(commit).iterdir()) == ["tokenizer_config.json"]
        assert not repo.ref("main").exists()
        assert not (repo.folder / STAGING).exists()

        (blocker / "x").unlink()
        blocker.rmdir()
        await m.client.post(f"/api/downloads/{job['id']}/resume")
        done = await m.wait(job["id"], "completed", "failed")
        assert done["status"] == "completed", done
        assert repo_id in await listed_ids(m)
        assert repo.ref("main").read_text() == commit
