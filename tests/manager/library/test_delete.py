"""``DELETE /api/models/local/{id}``: removes exactly the model; traversal touches nothing."""

from __future__ import annotations

import os
import sqlite3

import pytest

from modelyard_dev.tiny_model import main as make_tiny_model
from modelyard_dev.tiny_model import repo_folder_name
from tests.manager.library.conftest import (
    AppFactory,
    Dirs,
    place_by_hand,
    place_folder,
    place_in_cache,
    tiny_files,
    tree_snapshot,
)


async def test_delete_hub_model(open_app: AppFactory, dirs: Dirs) -> None:
    old = place_in_cache(dirs.cache, "org/gone", tiny_files(max_position_embeddings=256))
    new = place_in_cache(dirs.cache, "org/gone", tiny_files(max_position_embeddings=1024))
    place_in_cache(dirs.cache, "org/kept")
    kept_before = tree_snapshot(dirs.cache / "models--org--kept")
    async with open_app() as (_app, client):
        assert (await client.get("/api/models/local/org/gone")).status_code == 200
        response = await client.delete("/api/models/local/org/gone")
        listed = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]
        again = await client.delete("/api/models/local/org/gone")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == "org/gone"
    assert result["unloaded"] is None  # the inference server is down
    assert sorted(result["removed_revisions"]) == sorted([old.name, new.name])
    assert result["freed_bytes"] > sum(len(d) for d in tiny_files().values())
    assert not (dirs.cache / "models--org--gone").exists()
    assert tree_snapshot(dirs.cache / "models--org--kept") == kept_before
    assert listed == ["org/kept"]
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "model_not_found"
    with sqlite3.connect(dirs.data / "modelyard.db") as db:
        rows = [r[0] for r in db.execute("SELECT model_id FROM library_models")]
    assert rows == ["org/kept"]


async def test_delete_model_placed_by_hand(open_app: AppFactory, dirs: Dirs) -> None:
    place_by_hand(dirs.cache, "org/plain")
    async with open_app() as (_app, client):
        response = await client.delete("/api/models/local/org/plain")
    assert response.status_code == 200, response.text
    assert not (dirs.cache / "models--org--plain").exists()


async def test_delete_import_keeps_the_origin(open_app: AppFactory, dirs: Dirs) -> None:
    source = place_folder(dirs.outside, "origin")
    before = tree_snapshot(dirs.outside)
    async with open_app() as (_app, client):
        imported = await client.post("/api/models/import", json={"path": str(source)})
        assert imported.status_code == 201
        response = await client.delete("/api/models/local/local/origin")
    assert response.status_code == 200, response.text
    assert response.json()["removed_paths"] == [str(dirs.models / "origin")]
    assert not (dirs.models / "origin").exists()
    assert tree_snapshot(dirs.outside) == before


def _outside_target(dirs: Dirs) -> None:
    place_folder(dirs.outside, "victim")
    (dirs.outside / "secret.txt").write_text("keep me")


TRAVERSALS = (
    "/api/models/local/..%2F..%2Foutside",
    "/api/models/local/%2e%2e/%2e%2e/outside/victim",
    "/api/models/local/local/%2E%2E%2F%2E%2E%2Foutside%2Fvictim",
    "/api/models/local/local/..%2Foutside",
    "/api/models/local//tmp",
    "/api/models/local/local%2F%2Ftmp",
    "/api/models/local/org/%00x",
    "/api/models/local/org%5C..%5Coutside",
    "/api/models/local/org--x/name",
    "/api/models/local/local/%252e%252e",
    "/api/models/local/a/b/c",
)


async def test_traversal_ids_are_refused(open_app: AppFactory, dirs: Dirs) -> None:
    _outside_target(dirs)
    place_in_cache(dirs.cache, "org/kept")
    place_folder(dirs.models, "mine")
    before = (tree_snapshot(dirs.outside), tree_snapshot(dirs.cache), tree_snapshot(dirs.models))
    async with open_app() as (_app, client):
        for path in TRAVERSALS:
            response = await client.delete(path)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"]["code"] == "invalid_model_id", path
        listed = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]
    after = (tree_snapshot(dirs.outside), tree_snapshot(dirs.cache), tree_snapshot(dirs.models))
    assert after == before
    assert (dirs.outside / "secret.txt").read_text() == "keep me"
    assert listed == ["local/mine", "org/kept"]


@pytest.mark.parametrize(
    "model_id", ["local/..", "..", "../outside", "/etc", "local/../../outside", "org/./x", ""]
)
def test_plan_refuses_ids_clients_would_normalise(dirs: Dirs, model_id: str) -> None:
    """Literal dot segments never reach a route through an HTTP client (it normalises them);
    the check below the route refuses them all the same."""
    from manager.errors import BadRequestError
    from manager.library.delete import plan_delete

    _outside_target(dirs)
    before = tree_snapshot(dirs.outside)
    with pytest.raises(BadRequestError) as caught:
        plan_delete(model_id, dirs.cache, dirs.models)
    assert caught.value.code == "invalid_model_id"
    assert tree_snapshot(dirs.outside) == before


async def test_symlinks_pointing_out_are_refused(open_app: AppFactory, dirs: Dirs) -> None:
    _outside_target(dirs)
    victim = dirs.outside / "victim"
    # An imported name that is a link to a folder outside the models directory.
    (dirs.models / "evil").symlink_to(victim, target_is_directory=True)
    # A cache repo folder that is a link to a folder outside the cache.
    outside_repo = dirs.outside / "repo"
    place_in_cache(dirs.outside / "elsewhere", "org/x")
    os.rename(dirs.outside / "elsewhere" / "models--org--x", outside_repo)
    (dirs.cache / "models--org--evil-repo").symlink_to(outside_repo, target_is_directory=True)
    # A snapshot file that is a link to a file outside the cache.
    snapshot = place_in_cache(dirs.cache, "org/evil-file")
    (snapshot / "extra.bin").symlink_to(dirs.outside / "secret.txt")
    # An imported folder holding a link to a file outside.
    inner = place_folder(dirs.models, "inner-link")
    (inner / "notes.txt").symlink_to(dirs.outside / "secret.txt")
    before = (tree_snapshot(dirs.outside), tree_snapshot(dirs.cache), tree_snapshot(dirs.models))

    async with open_app() as (_app, client):
        for model_id in ("local/evil", "org/evil-repo", "org/evil-file", "local/inner-link"):
            response = await client.delete(f"/api/models/local/{model_id}")
            assert response.status_code == 400, (model_id, response.text)
            assert response.json()["error"]["code"] == "path_outside_root", model_id

    after = (tree_snapshot(dirs.outside), tree_snapshot(dirs.cache), tree_snapshot(dirs.models))
    assert after == before
    assert (dirs.outside / "secret.txt").read_text() == "keep me"
    assert (victim / "model.safetensors").exists()


async def test_delete_refused_while_a_download_owns_it(open_app: AppFactory, dirs: Dirs) -> None:
    from manager.library.service import Library

    place_in_cache(dirs.cache, "org/busy")
    async with open_app() as (app, _client):
        library: Library = app.state.library
        from manager.errors import ConflictError

        with pytest.raises(ConflictError):
            await library.delete("org/busy", owned={"org/busy"})
    assert (dirs.cache / "models--org--busy").exists()


COPIES = ("team1/copy", "team2/copy", "team3/copy", "team4/copy")


async def test_delete_never_touches_a_repo_sharing_the_commit(
    open_app: AppFactory, dirs: Dirs
) -> None:
    """Deleting one Hub model removes that repo, never another holding the same commit.

    Reproduction: five repos with identical content share one commit hash::

        modelyard-tiny-model --cache-dir $HF --repo-id alice/model-a
        modelyard-tiny-model --cache-dir $HF --repo-id team1/copy   # ... team4/copy
        curl -X DELETE :8000/api/models/local/alice/model-a

    answered 200 with ``removed_paths`` naming ``models--team4--copy``, and ``alice/model-a``
    stayed: ``scan_cache_dir().delete_revisions(*hashes)`` looks a hash up across every
    repo and takes the first it finds.
    """
    for repo_id in ("alice/model-a", *COPIES):
        make_tiny_model(["--cache-dir", str(dirs.cache), "--repo-id", repo_id])
    commits = {p.name for p in dirs.cache.glob("models--*/snapshots/*")}
    assert len(commits) == 1  # the premise: one commit hash in five repos
    copies_before = {r: tree_snapshot(dirs.cache / repo_folder_name(r)) for r in COPIES}
    target = dirs.cache / repo_folder_name("alice/model-a")

    async with open_app() as (_app, client):
        response = await client.delete("/api/models/local/alice/model-a")
        listed = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["removed_revisions"] == sorted(commits)
    assert result["removed_paths"] == [str(target)]
    assert result["kept_repos"] == list(COPIES)
    assert not target.exists()
    assert {r: tree_snapshot(dirs.cache / repo_folder_name(r)) for r in COPIES} == copies_before
    assert listed == sorted(COPIES)


async def test_delete_of_a_linked_repo_folder_removes_only_the_link(
    open_app: AppFactory, dirs: Dirs
) -> None:
    """A repo kept under a second name as a link to the first (``models--org--alias ->
    models--org--real``) is deleted by removing the link; the folder it names stays whole.

    Reproduction: ``ln -s models--org--real $HF/models--org--alias``, then
    ``DELETE /api/models/local/org/alias``: both names hold the same commit, so the plan
    built from the whole cache could remove ``models--org--real`` instead.
    """
    place_in_cache(dirs.cache, "org/real")
    alias = dirs.cache / repo_folder_name("org/alias")
    alias.symlink_to(repo_folder_name("org/real"), target_is_directory=True)
    real_before = tree_snapshot(dirs.cache / repo_folder_name("org/real"))

    async with open_app() as (_app, client):
        response = await client.delete("/api/models/local/org/alias")
        listed = [m["id"] for m in (await client.get("/api/models/local")).json()["data"]]

    assert response.status_code == 200, response.text
    assert response.json()["removed_paths"] == [str(alias)]
    assert not alias.is_symlink() and not alias.exists()
    assert tree_snapshot(dirs.cache / repo_folder_name("org/real")) == real_before
    assert listed == ["org/real"]
