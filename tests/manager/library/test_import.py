"""``POST /api/models/import``: good folders and GGUF files in, bad input refused with reasons."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.manager.library.conftest import (
    AppFactory,
    Dirs,
    place_folder,
    place_in_cache,
    tiny_files,
    write_gguf,
)


async def test_import_links_by_default(open_app: AppFactory, dirs: Dirs) -> None:
    source = place_folder(dirs.outside, "My Model")
    async with open_app() as (_app, client):
        response = await client.post("/api/models/import", json={"path": str(source)})
        listed = await client.get("/api/models/local")
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["id"] == "local/My-Model"
    assert model["import_origin"] == str(source)
    assert model["import_mode"] == "link"
    assert model["characteristics"]["model_type"] == "llama"
    target = dirs.models / "My-Model"
    for name in tiny_files():
        assert (target / name).stat().st_ino == (source / name).stat().st_ino, name
    assert [m["id"] for m in listed.json()["data"]] == ["local/My-Model"]
    assert not [p for p in dirs.models.iterdir() if p.name.startswith(".")]


async def test_import_copy_with_a_name(open_app: AppFactory, dirs: Dirs) -> None:
    source = place_folder(dirs.outside, "src")
    async with open_app() as (_app, client):
        response = await client.post(
            "/api/models/import", json={"path": str(source), "name": "copied", "mode": "copy"}
        )
    assert response.status_code == 201, response.text
    copied = dirs.models / "copied" / "model.safetensors"
    assert copied.read_bytes() == (source / "model.safetensors").read_bytes()
    assert copied.stat().st_ino != (source / "model.safetensors").stat().st_ino
    with sqlite3.connect(dirs.data / "modelyard.db") as db:
        row = db.execute(
            "SELECT source, import_origin, import_mode FROM library_models "
            "WHERE model_id = 'local/copied'"
        ).fetchone()
    assert row == ("imported", str(source), "copy")


async def test_import_a_snapshot_of_symlinks(open_app: AppFactory, dirs: Dirs) -> None:
    other_cache = dirs.outside / "other-cache"
    snapshot = place_in_cache(other_cache, "org/elsewhere")
    async with open_app() as (_app, client):
        response = await client.post(
            "/api/models/import", json={"path": str(snapshot), "name": "from-snapshot"}
        )
    assert response.status_code == 201, response.text
    placed = dirs.models / "from-snapshot" / "config.json"
    assert not placed.is_symlink()
    assert placed.stat().st_ino == (snapshot / "config.json").resolve().stat().st_ino


async def test_import_gguf_file(open_app: AppFactory, dirs: Dirs) -> None:
    gguf = write_gguf(dirs.outside / "Tiny-Q4_K_M.gguf", context=16384)
    async with open_app() as (_app, client):
        response = await client.post("/api/models/import", json={"path": str(gguf)})
        compatibility = await client.get("/api/models/compatibility/local/Tiny-Q4_K_M")
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["id"] == "local/Tiny-Q4_K_M"
    assert model["format"] == "gguf"
    assert model["characteristics"]["context_length"] == 16384
    assert model["characteristics"]["quantization_bits"] == 4
    assert (dirs.models / "Tiny-Q4_K_M" / "Tiny-Q4_K_M.gguf").is_file()
    report = compatibility.json()
    assert report["compatible"] is False
    assert "unsupported_format" in {r["code"] for r in report["reasons"]}


def _without(*names: str) -> dict[str, bytes]:
    return {k: v for k, v in tiny_files().items() if k not in names}


@pytest.mark.parametrize(
    ("files", "code", "says"),
    [
        (_without("config.json"), "not_a_model", "config.json"),
        (_without("model.safetensors"), "not_a_model", "safetensors"),
        (
            _without("tokenizer.json", "tokenizer_config.json"),
            "not_a_model",
            "tokenizer",
        ),
        (
            {**_without("model.safetensors"), "pytorch_model.bin": b"\x80\x02pickle"},
            "unsafe_format",
            "pickle",
        ),
        ({**tiny_files(), "config.json": b"{not json"}, "not_a_model", "not valid JSON"),
        (
            {**tiny_files(), "config.json": json.dumps({"x": 1}).encode()},
            "not_a_model",
            "model_type",
        ),
    ],
    ids=["no-config", "no-weights", "no-tokenizer", "pickle-only", "bad-json", "no-model-type"],
)
async def test_bad_folders(
    open_app: AppFactory, dirs: Dirs, files: dict[str, bytes], code: str, says: str
) -> None:
    source = place_folder(dirs.outside, "bad", files)
    async with open_app() as (_app, client):
        response = await client.post("/api/models/import", json={"path": str(source)})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert says in error["message"]
    assert list(dirs.models.iterdir()) == []


async def test_missing_parts_are_all_named(open_app: AppFactory, dirs: Dirs) -> None:
    source = place_folder(dirs.outside, "empty-ish", {"README.md": b"hi"})
    async with open_app() as (_app, client):
        response = await client.post("/api/models/import", json={"path": str(source)})
    assert response.status_code == 400
    missing = response.json()["error"]["details"]["missing"]
    assert len(missing) == 3


async def test_bad_paths_and_names(open_app: AppFactory, dirs: Dirs) -> None:
    source = place_folder(dirs.outside, "good")
    (dirs.outside / "notes.txt").write_text("hello")
    (dirs.outside / "fake.gguf").write_bytes(b"GGML not really")
    async with open_app() as (_app, client):

        async def code(body: dict[str, str]) -> tuple[int, str]:
            response = await client.post("/api/models/import", json=body)
            return response.status_code, response.json()["error"]["code"]

        assert await code({"path": "relative/folder"}) == (400, "invalid_path")
        assert await code({"path": str(dirs.outside / "nope")}) == (400, "path_not_found")
        assert await code({"path": str(dirs.outside / "notes.txt")}) == (400, "unsupported_file")
        assert await code({"path": str(dirs.outside / "fake.gguf")}) == (400, "invalid_gguf")
        assert await code({"path": str(source), "name": "../escape"}) == (400, "invalid_name")
        assert await code({"path": str(source), "name": ".hidden"}) == (400, "invalid_name")
        assert await code({"path": str(source), "mode": "move"}) == (400, "invalid_request")
        assert (
            await client.post("/api/models/import", json={"path": str(source)})
        ).status_code == 201
        assert await code({"path": str(source)}) == (409, "model_exists")
        assert await code({"path": str(dirs.models / "good")}) == (400, "already_in_library")
    assert sorted(p.name for p in dirs.models.iterdir()) == ["good"]
    assert not (dirs.outside.parent / "escape").exists()


async def test_import_refused_when_linking_is_impossible(
    open_app: AppFactory, dirs: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    def cross_device(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    source = place_folder(dirs.outside, "far")
    monkeypatch.setattr("manager.library.importer.os.link", cross_device)
    async with open_app() as (_app, client):
        response = await client.post("/api/models/import", json={"path": str(source)})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "link_failed"
    assert "copy" in error["resolution_steps"][0]
    assert list(dirs.models.iterdir()) == []


def test_copy_needs_free_space(dirs: Dirs) -> None:
    from manager.errors import InsufficientStorageError
    from manager.library.importer import import_model

    source = place_folder(dirs.outside, "big")
    with pytest.raises(InsufficientStorageError) as caught:
        import_model(str(source), None, "copy", dirs.models, dirs.cache, reserve_bytes=2**62)
    assert caught.value.details["required_bytes"] > caught.value.details["available_bytes"]
    assert list(dirs.models.iterdir()) == []
    assert Path(source / "config.json").exists()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mode", ["copy", "link"])
async def test_import_skips_links_that_leave_the_folder(
    open_app: AppFactory, dirs: Dirs, tmp_path: Path, mode: str
) -> None:
    """Only regular files whose real path stays inside the folder are imported; a copy keeps
    each file's permission bits; the answer lists what was left out.

    Reproduction: a model folder holding ``ln -s /etc/shadow notes.txt`` and
    ``ln -s /proc/self/environ env.txt``, imported with ``"mode": "copy"``, put a 0644 copy
    of the shadow file and of the manager's environment into the models folder.
    """
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    secret.chmod(0o600)
    source = place_folder(dirs.outside, "linky")
    (source / "config.json").chmod(0o600)
    (source / "model.safetensors").chmod(0o640)
    (source / "notes.txt").symlink_to(secret)
    (source / "env.txt").symlink_to("/proc/self/environ")
    (source / "alias.json").symlink_to("config.json")  # stays inside: imported
    os.mkfifo(source / "pipe")
    (source / ".env").write_text("TOKEN=x")
    (source / "outside-dir").symlink_to(dirs.outside, target_is_directory=True)

    async with open_app() as (_app, client):
        response = await client.post("/api/models/import", json={"path": str(source), "mode": mode})
    assert response.status_code == 201, response.text
    target = dirs.models / "linky"
    assert sorted(p.name for p in target.iterdir()) == sorted(["alias.json", *tiny_files()])
    assert (target / "alias.json").read_bytes() == (source / "config.json").read_bytes()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert not (target / name).is_symlink()
        assert _mode(target / name) == _mode(source / name), name
    assert _mode(target / "config.json") == 0o600
    assert _mode(secret) == 0o600
    assert response.json()["skipped"] == [
        {"path": "outside-dir", "reason": "linked_folder"},
        {"path": ".env", "reason": "hidden"},
        {"path": "env.txt", "reason": "link_outside_source"},
        {"path": "notes.txt", "reason": "link_outside_source"},
        {"path": "pipe", "reason": "not_a_regular_file"},
    ]


def _snapshot_beside_a_neighbour(cache: Path) -> Path:
    """A snapshot whose tokenizer blob lives in the cache's shared blob store, holding one
    more link, into another repo's blobs."""
    snapshot = place_in_cache(cache, "org/elsewhere")
    neighbour = place_in_cache(cache, "org/neighbour", {"secret.txt": b"theirs"})
    (snapshot / "theirs.txt").symlink_to((neighbour / "secret.txt").resolve())
    store = cache / "blobs"
    (store / "ab").mkdir(parents=True)
    (store / ".huggingface-shared-blobs").write_text("1")
    blob = (snapshot / "tokenizer.json").resolve()
    stored = store / "ab" / ("ab" + "0" * 62)
    os.rename(blob, stored)
    blob.symlink_to(os.path.relpath(stored, blob.parent))
    return snapshot


async def test_import_of_a_snapshot_copy_stays_in_its_repo(
    open_app: AppFactory, dirs: Dirs
) -> None:
    """A snapshot's links into its own repo's blobs (and into the cache's shared blob
    store) are followed; a link into another repo's blobs is left out."""
    snapshot = _snapshot_beside_a_neighbour(dirs.outside / "other-cache")

    async with open_app() as (_app, client):
        response = await client.post(
            "/api/models/import",
            json={"path": str(snapshot), "name": "snap-copy", "mode": "copy"},
        )
    assert response.status_code == 201, response.text
    assert response.json()["skipped"] == [{"path": "theirs.txt", "reason": "link_outside_source"}]
    target = dirs.models / "snap-copy"
    assert sorted(p.name for p in target.iterdir()) == sorted(tiny_files())
    assert (target / "tokenizer.json").read_bytes() == tiny_files()["tokenizer.json"]
