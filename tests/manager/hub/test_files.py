from __future__ import annotations

import pytest

from manager.hub.files import (
    RepoFile,
    gguf_group,
    gguf_selections,
    hub_file,
    is_unsafe,
    safetensors_selection,
    selections,
    weights_format,
)


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("model.safetensors", "safetensors"),
        ("model-00001-of-00002.safetensors", "safetensors"),
        ("x/Model.SAFETENSORS", "safetensors"),
        ("model-Q4_K_M.gguf", "gguf"),
        ("pytorch_model.bin", "pickle"),
        ("training_args.bin", "pickle"),
        ("original/consolidated.00.pth", "pickle"),
        ("model.pt", "pickle"),
        ("model.ckpt", "pickle"),
        ("tokenizer.pkl", "pickle"),
        ("config.json", None),
        ("model.onnx", None),
        ("README.md", None),
        ("weights.npz", None),
    ],
)
def test_weights_format(path: str, fmt: str | None) -> None:
    assert weights_format(path) == fmt
    assert is_unsafe(path) == (fmt == "pickle")
    entry = hub_file(RepoFile(path, 10))
    assert entry.weights_format == fmt
    assert entry.unsafe_format == (fmt == "pickle")


def test_gguf_group_strips_split_suffix() -> None:
    assert gguf_group("m-Q8_0-00001-of-00003.gguf") == "m-Q8_0.gguf"
    assert gguf_group("Q8_0/m-Q8_0-00003-of-00003.gguf") == "Q8_0/m-Q8_0.gguf"
    assert gguf_group("m-Q4_K_M.gguf") == "m-Q4_K_M.gguf"
    assert gguf_group("m-1-of-2.gguf") == "m-1-of-2.gguf"


def test_gguf_selections_sum_split_parts_and_sort_by_bits() -> None:
    files = [
        RepoFile("README.md", 100),
        RepoFile("Q8_0/m-Q8_0-00002-of-00002.gguf", 1500),
        RepoFile("Q8_0/m-Q8_0-00001-of-00002.gguf", 2000),
        RepoFile("m-Q4_K_M.gguf", 1800),
        RepoFile("m-IQ2_XXS.gguf", 700),
        RepoFile("mmproj-m-f16.gguf", 600),
        RepoFile("m-custom.gguf", 50),
        RepoFile("m-BF16.gguf", None),
    ]
    out = gguf_selections(files)
    assert [s.name for s in out] == [
        "IQ2_XXS",
        "Q4_K_M",
        "Q8_0",
        "BF16",
        "m-custom",
        "mmproj-m-f16",
    ]
    q8 = out[2]
    assert q8.files == ["Q8_0/m-Q8_0-00001-of-00002.gguf", "Q8_0/m-Q8_0-00002-of-00002.gguf"]
    assert q8.size == 3500
    assert q8.quant is not None and q8.quant.bits == 8
    assert out[3].size == 0  # size unknown counts as nothing
    assert out[4].quant is None
    assert all(s.format == "gguf" for s in out)


def test_gguf_selections_same_quant_twice_named_by_file() -> None:
    out = gguf_selections([RepoFile("a-Q4_K_M.gguf", 1), RepoFile("b-Q4_K_M.gguf", 2)])
    assert sorted(s.name for s in out) == ["a-Q4_K_M.gguf", "b-Q4_K_M.gguf"]


def test_safetensors_selection_leaves_out_other_formats() -> None:
    files = [
        RepoFile("config.json", 1),
        RepoFile("tokenizer.json", 2),
        RepoFile("model-00001-of-00002.safetensors", 100),
        RepoFile("model-00002-of-00002.safetensors", 50),
        RepoFile("model.safetensors.index.json", 3),
        RepoFile("consolidated.safetensors", 150),
        RepoFile("pytorch_model.bin", 150),
        RepoFile("original/consolidated.00.pth", 150),
        RepoFile("model.onnx", 150),
        RepoFile("flax_model.msgpack", 150),
        RepoFile("tf_model.h5", 150),
        RepoFile("m-Q4_K_M.gguf", 70),
    ]
    selection = safetensors_selection(files, mlx=True)
    assert selection is not None
    assert selection.name == selection.format == "mlx"
    assert selection.files == [
        "config.json",
        "tokenizer.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ]
    assert selection.size == 156


def test_consolidated_alone_is_kept() -> None:
    selection = safetensors_selection(
        [RepoFile("consolidated.safetensors", 5), RepoFile("params.json", 1)], mlx=False
    )
    assert selection is not None and selection.format == "safetensors"
    assert selection.files == ["consolidated.safetensors", "params.json"]


def test_no_safetensors_no_weights_selection() -> None:
    files = [RepoFile("pytorch_model.bin", 5), RepoFile("config.json", 1)]
    assert safetensors_selection(files, mlx=False) is None
    assert selections(files, mlx=False) == []


def test_selections_of_a_mixed_repo() -> None:
    files = [RepoFile("model.safetensors", 10), RepoFile("m-Q4_0.gguf", 4)]
    assert [(s.name, s.size) for s in selections(files, mlx=False)] == [
        ("safetensors", 10),
        ("Q4_0", 4),
    ]
