"""The scan: what counts as a model on disk, and how changes made by other tools show up."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from manager.library.scan import LibraryScanner
from tests.manager.library.conftest import (
    Dirs,
    place_by_hand,
    place_folder,
    place_in_cache,
    tiny_files,
    write_gguf,
)


def _ids(scanner: LibraryScanner) -> list[str]:
    return [m.id for m in scanner.scan()]


def test_cache_layout_by_hand_and_standard(dirs: Dirs) -> None:
    standard = place_in_cache(dirs.cache, "org/standard")
    by_hand = place_by_hand(dirs.cache, "org/by-hand")
    place_folder(dirs.models, "imported")
    scanner = LibraryScanner(dirs.cache, dirs.models)

    models = {m.id: m for m in scanner.scan()}

    assert list(models) == ["org/by-hand", "org/standard", "local/imported"]
    hub = models["org/standard"]
    assert hub.source == "hub"
    assert hub.path == standard
    assert hub.revision == standard.name
    assert hub.revisions == (standard.name,)
    assert hub.weights == "safetensors"
    assert hub.format == "transformers"  # safetensors written with format "pt"
    assert hub.characteristics.model_type == "llama"
    assert hub.characteristics.architecture_family == "Llama"
    assert hub.kind == "chat"
    files = tiny_files()
    assert hub.file_count == len(files)
    assert hub.size_bytes == sum(len(d) for d in files.values())
    assert hub.weight_bytes == len(files["model.safetensors"])
    assert models["org/by-hand"].path == by_hand
    assert models["org/by-hand"].size_bytes == hub.size_bytes
    local = models["local/imported"]
    assert local.source == "imported"
    assert local.revision is None


def test_what_is_not_a_model(dirs: Dirs) -> None:
    no_config = {k: v for k, v in tiny_files().items() if k != "config.json"}
    place_in_cache(dirs.cache, "org/no-config", no_config)
    place_by_hand(dirs.cache, "org/no-ref", ref=False)  # newest snapshot stands in for refs/main
    (dirs.cache / "datasets--org--data" / "snapshots").mkdir(parents=True)
    (dirs.cache / "models--bad..name" / "snapshots").mkdir(parents=True)
    place_folder(dirs.models, ".import-x-123")  # staging of an import in progress
    place_folder(dirs.models, "no-config", no_config)
    (dirs.models / "loose-file.txt").write_text("x")

    assert _ids(LibraryScanner(dirs.cache, dirs.models)) == ["org/no-ref"]


def test_mlx_format_multimodal_and_types(dirs: Dirs) -> None:
    place_in_cache(dirs.cache, "org/q4", tiny_files(quantization={"bits": 4, "group_size": 64}))
    place_in_cache(
        dirs.cache, "org/vl", tiny_files(vision_config={"depth": 2}, model_type="qwen2_vl")
    )
    place_in_cache(
        dirs.cache,
        "org/embedder",
        tiny_files(model_type="bert", architectures=["BertModel"]),
    )
    models = {m.id: m for m in LibraryScanner(dirs.cache, dirs.models).scan()}

    assert models["org/q4"].format == "mlx"
    assert models["org/q4"].characteristics.quantization_bits == 4
    assert models["org/vl"].characteristics.is_multimodal
    assert models["org/vl"].kind == "chat"
    assert models["org/embedder"].kind == "embedding"


def test_gguf_repo_and_folder(dirs: Dirs) -> None:
    repo_snapshot = place_by_hand(dirs.cache, "org/tiny-GGUF", {"README.md": b"# gguf"})
    write_gguf(repo_snapshot / "tiny-Q4_K_M.gguf", context=8192)
    write_gguf(dirs.models / "gg" / "model.gguf", file_type=7)

    models = {m.id: m for m in LibraryScanner(dirs.cache, dirs.models).scan()}

    hub = models["org/tiny-GGUF"]
    assert hub.format == "gguf"
    assert hub.weights == "gguf"
    assert hub.gguf_files == ("tiny-Q4_K_M.gguf",)
    assert hub.characteristics.context_length == 8192
    assert hub.characteristics.quantization_bits == 4
    assert hub.characteristics.parameter_count == 2 * 8 * 16
    local = models["local/gg"]
    assert local.characteristics.quantization_bits == 8
    assert local.characteristics.quantization_method == "gguf Q8_0"


def test_changes_by_other_tools_show_up(dirs: Dirs) -> None:
    scanner = LibraryScanner(dirs.cache, dirs.models)
    place_in_cache(dirs.cache, "org/a")
    folder = place_folder(dirs.models, "b")
    first = {m.id: m for m in scanner.scan()}
    assert set(first) == {"org/a", "local/b"}

    again = {m.id: m for m in scanner.scan()}
    assert again["org/a"] is first["org/a"], "an unchanged repo is not read again"

    place_in_cache(dirs.cache, "org/c")  # added by another tool
    shutil.rmtree(dirs.cache / "models--org--a")  # deleted by another tool
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 4096
    (folder / "config.json").write_text(json.dumps(config))  # edited in place
    os.utime(folder / "config.json", ns=(1, 1))

    after = {m.id: m for m in scanner.scan()}
    assert set(after) == {"org/c", "local/b"}
    assert after["local/b"].characteristics.context_length == 4096
    assert after["local/b"].config_hash != first["local/b"].config_hash


def test_new_revision_becomes_current(dirs: Dirs) -> None:
    scanner = LibraryScanner(dirs.cache, dirs.models)
    old = place_in_cache(dirs.cache, "org/m", tiny_files(max_position_embeddings=256))
    assert scanner.scan()[0].revision == old.name
    new = place_in_cache(dirs.cache, "org/m", tiny_files(max_position_embeddings=1024))

    model = scanner.scan()[0]

    assert model.revision == new.name
    assert set(model.revisions) == {old.name, new.name}
    assert model.characteristics.context_length == 1024


def test_folder_linked_from_outside_is_skipped(dirs: Dirs) -> None:
    outside_model = place_folder(dirs.outside, "elsewhere")
    (dirs.models / "linked").symlink_to(outside_model, target_is_directory=True)
    place_folder(dirs.models, "real")

    assert _ids(LibraryScanner(dirs.cache, dirs.models)) == ["local/real"]


def test_missing_roots_are_empty(tmp_path: Path) -> None:
    assert LibraryScanner(tmp_path / "no-cache", tmp_path / "no-models").scan() == []
