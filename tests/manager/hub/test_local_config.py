"""Reading a local model's config.json: the Hugging Face cache, imported models, and the roots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from manager.hub.ids import parse_model_id
from manager.hub.local_config import MAX_CONFIG_BYTES, read_local_config

SHA = "a" * 40


def cache_model(cache: Path, repo_id: str, config: bytes, *, ref: str | None = SHA) -> Path:
    """Lay a model out as huggingface_hub does: a blob, a snapshot link to it, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    blob = repo / "blobs" / "0123abcd"
    blob.write_bytes(config)
    snapshot = repo / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").symlink_to(os.path.relpath(blob, snapshot))
    if ref is not None:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(ref)
    return repo


def read(model_id: str, cache: Path, models: Path):
    return read_local_config(parse_model_id(model_id), hub_cache=cache, models_dir=models)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    cache, models = tmp_path / "hf", tmp_path / "models"
    cache.mkdir()
    models.mkdir()
    return cache, models


def test_reads_the_snapshot_refs_main_points_to(roots: tuple[Path, Path]) -> None:
    cache, models = roots
    cache_model(cache, "Org/Model", json.dumps({"model_type": "llama"}).encode())
    found = read("Org/Model", cache, models)
    assert found is not None
    assert found.config == {"model_type": "llama"}
    assert found.revision == SHA


def test_single_snapshot_without_refs(roots: tuple[Path, Path]) -> None:
    cache, models = roots
    cache_model(cache, "org/m", b'{"model_type": "qwen2"}', ref=None)
    found = read("org/m", cache, models)
    assert found is not None and found.revision == SHA


def test_absent_models(roots: tuple[Path, Path]) -> None:
    cache, models = roots
    assert read("org/absent", cache, models) is None
    assert read("local/absent", cache, models) is None
    cache_model(cache, "org/m", b"{}", ref="b" * 40)  # refs/main names a missing snapshot
    assert read("org/m", cache, models) is None


def test_refs_main_must_be_a_commit_id(roots: tuple[Path, Path]) -> None:
    cache, models = roots
    repo = cache_model(cache, "org/m", b"{}")
    (repo / "refs" / "main").write_text("../../../elsewhere")
    assert read("org/m", cache, models) is None


def test_imported_model(roots: tuple[Path, Path]) -> None:
    cache, models = roots
    (models / "tiny").mkdir()
    (models / "tiny" / "config.json").write_text('{"model_type": "llama"}')
    found = read("local/tiny", cache, models)
    assert found is not None
    assert found.config == {"model_type": "llama"} and found.revision is None


@pytest.mark.parametrize(
    "content", [b"not json", b"[1, 2]", b"\xff\xfe", b" " * (MAX_CONFIG_BYTES + 1)]
)
def test_unreadable_config_is_present_but_none(roots: tuple[Path, Path], content: bytes) -> None:
    cache, models = roots
    (models / "odd").mkdir()
    (models / "odd" / "config.json").write_bytes(content)
    found = read("local/odd", cache, models)
    assert found is not None and found.config is None


def test_symlinks_out_of_the_roots_are_not_followed(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    cache, models = roots
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"secret": true}')
    (models / "escape").symlink_to(outside, target_is_directory=True)
    assert read("local/escape", cache, models) is None
    repo = cache_model(cache, "org/m", b"{}")
    link = repo / "snapshots" / SHA / "config.json"
    link.unlink()
    link.symlink_to(outside / "config.json")
    assert read("org/m", cache, models) is None
    assert (outside / "config.json").exists()


def test_missing_roots(tmp_path: Path) -> None:
    assert read("local/x", tmp_path / "no-cache", tmp_path / "no-models") is None
    assert read("org/x", tmp_path / "no-cache", tmp_path / "no-models") is None


def test_newest_of_several_snapshots_without_refs_agrees_with_library_and_server(
    roots: tuple[Path, Path],
) -> None:
    """Reproduction: a repo with two snapshots and no ``refs/main`` (another tool wrote it,
    or the ref was removed) was listed by ``/api/models/local`` and loaded by the inference
    server (the newest snapshot), while ``/api/models/config`` said it was not local (it
    accepted a single snapshot only) and asked the Hub. One rule now: the newest snapshot."""
    from inference_server.pool.resolve import find_model_path
    from manager.library.scan import LibraryScanner

    cache, models = roots
    repo = cache_model(cache, "org/two", b'{"model_type": "llama", "n_positions": 64}', ref=None)
    newer = repo / "snapshots" / ("c" * 40)
    newer.mkdir()
    (newer / "config.json").write_text('{"model_type": "qwen2", "n_positions": 128}')
    os.utime(repo / "snapshots" / SHA, (1_000_000, 1_000_000))
    os.utime(newer, (2_000_000, 2_000_000))

    found = read("org/two", cache, models)
    assert found is not None and found.revision == "c" * 40
    assert found.config is not None and found.config["model_type"] == "qwen2"
    listed = LibraryScanner(cache, models).find("org/two")
    assert listed is not None and listed.revision == found.revision
    assert find_model_path("org/two", cache, [models]) == newer
