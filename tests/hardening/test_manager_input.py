"""What fuzzing the manager found, pinned: 405 names every method of a path, an import of a
huge tree (``/``) is refused at once, and an imported name can always be read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import manager.library.importer as importer
from tests.hardening.conftest import assert_envelope
from tests.manager.conftest import AppClientFactory, app_client, make_settings

__all__ = ["app_client", "make_settings"]  # fixtures shared with tests/manager


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/downloads", "GET, POST"),
        ("OPTIONS", "/api/downloads/0b5c6a4e-1d2f-4c3b-9a8e-7f6d5c4b3a21", "GET, DELETE"),
        ("PUT", "/api/models/local/org/name", "GET, DELETE"),
        ("POST", "/health", "GET"),
    ],
)
async def test_405_lists_every_method_of_the_path(
    app_client: AppClientFactory, method: str, path: str, allow: str
) -> None:
    async with app_client() as (_app, client):
        r = await client.request(method, path)
    assert_envelope(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == allow


async def test_import_of_a_huge_tree_is_refused_at_once(
    app_client: AppClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    for i in range(4):
        (tree / f"d{i}").mkdir(parents=True)
        (tree / f"d{i}" / "model.safetensors").write_bytes(b"x")
    monkeypatch.setattr(importer, "MAX_IMPORT_ENTRIES", 5)
    async with app_client() as (_app, client):
        r = await client.post("/api/models/import", json={"path": str(tree)})
        error = assert_envelope(r, 400, "not_a_model")
        assert "more than 5" in error["message"]
        # The root of the file system: walked no further than the cap (or the first entry
        # that cannot be read), refused either way.
        r = await client.post("/api/models/import", json={"path": "/"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] in {"not_a_model", "unreadable_path"}
        assert (await client.get("/api/models/local")).json()["data"] == []


async def test_imported_names_can_be_read_back(
    app_client: AppClientFactory, tmp_path: Path, models_dir: Path
) -> None:
    source = tmp_path / "my--model"
    shutil.copytree(models_dir / "tiny-a", source)
    async with app_client() as (_app, client):
        r = await client.post(
            "/api/models/import", json={"path": str(source), "name": "a--b", "mode": "copy"}
        )
        assert_envelope(r, 400, "invalid_name")
        r = await client.post("/api/models/import", json={"path": str(source), "mode": "copy"})
        assert r.status_code == 201, r.text
        assert r.json()["id"] == "local/my-model"
        r = await client.get("/api/models/local/local/my-model")
        assert r.status_code == 200, r.text
