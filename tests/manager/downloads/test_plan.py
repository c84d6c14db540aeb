"""File selection (pure): patterns, format defaults, GGUF quantization choice, pickle refusal,
and the checks on what the Hub lists."""

from __future__ import annotations

import pytest

from manager.downloads.plan import (
    RemoteFile,
    check_listing,
    checked_file,
    choose_gguf,
    detect_format,
    matches,
    select_files,
)
from manager.errors import BadRequestError, HubResponseError

SHA1 = "a" * 40
SHA256 = "b" * 64


def f(path: str, size: int = 10, lfs: bool = False) -> RemoteFile:
    return RemoteFile(path=path, size=size, blob_id=SHA1, sha256=SHA256 if lfs else None)


MLX_REPO = [
    f(".gitattributes"),
    f("README.md"),
    f("config.json"),
    f("generation_config.json"),
    f("model-00001-of-00002.safetensors", 100, lfs=True),
    f("model-00002-of-00002.safetensors", 100, lfs=True),
    f("model.safetensors.index.json"),
    f("tokenizer.json"),
    f("tokenizer_config.json"),
    f("tokenizer.model", lfs=True),
    f("special_tokens_map.json"),
    f("chat_template.jinja"),
    f("merges.txt"),
    f("pytorch_model.bin", 100, lfs=True),
    f("training_args.pkl"),
    f("original/consolidated.00.pth", 100, lfs=True),
    f("original/params.json"),
]


def paths(files: list[RemoteFile]) -> list[str]:
    return [file.path for file in files]


def test_mlx_defaults_take_weights_config_tokenizer_templates_never_pickle() -> None:
    chosen = paths(select_files(MLX_REPO, [], "mlx"))
    assert chosen == [
        "chat_template.jinja",
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
    ]


def test_mlx_defaults_skip_duplicate_consolidated_weights() -> None:
    repo = [*MLX_REPO, f("consolidated.safetensors", 200, lfs=True)]
    assert "consolidated.safetensors" not in paths(select_files(repo, [], "mlx"))
    alone = [f("config.json"), f("consolidated.safetensors", 200, lfs=True)]
    assert "consolidated.safetensors" in paths(select_files(alone, [], "mlx"))


def test_patterns_select_and_pickle_needs_its_extension_named() -> None:
    assert paths(select_files(MLX_REPO, ["*.json"], "mlx")) == [
        "config.json",
        "generation_config.json",
        "model.safetensors.index.json",
        "original/params.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    # '*' alone does not open the door to pickle files ...
    assert "pytorch_model.bin" not in paths(select_files(MLX_REPO, ["*"], "mlx"))
    # ... a pattern that names the extension does.
    assert "pytorch_model.bin" in paths(select_files(MLX_REPO, ["*.bin"], "mlx"))
    assert paths(select_files(MLX_REPO, ["original/"], "mlx")) == ["original/params.json"]


def test_nothing_matching_is_a_400_listing_the_files() -> None:
    with pytest.raises(BadRequestError) as caught:
        select_files(MLX_REPO, ["*.gguf"], "mlx")
    error = caught.value
    assert error.status == 400
    assert error.param == "allow_patterns"
    assert "config.json" in error.details["files"]
    assert error.details["file_count"] == len(MLX_REPO)
    with pytest.raises(BadRequestError):
        select_files([f("README.md")], [], "mlx")


def test_matches_follows_huggingface_hub_rules() -> None:
    assert matches("a/b/c.json", "*.json")  # '*' crosses folders
    assert matches("original/x.pth", "original/")
    assert not matches("config.json", "*.safetensors")


GGUF_REPO = [
    f("README.md"),
    f("model-Q2_K.gguf", 20, lfs=True),
    f("model-Q4_K_M.gguf", 40, lfs=True),
    f("model-Q8_0.gguf", 80, lfs=True),
    f("mmproj-model-f16.gguf", 5, lfs=True),
]


def test_detect_format() -> None:
    assert detect_format(paths(GGUF_REPO)) == "gguf"
    assert detect_format(paths(MLX_REPO)) == "mlx"
    assert detect_format(["model.safetensors", "model-Q4_K_M.gguf"]) == "mlx"


def test_gguf_default_is_one_preferred_quantization() -> None:
    assert paths(select_files(GGUF_REPO, [], "gguf")) == ["model-Q4_K_M.gguf"]
    without_preferred = [f("a-Q3_K_L.gguf", 30, lfs=True), f("a-F16.gguf", 90, lfs=True)]
    assert paths(choose_gguf(without_preferred)) == ["a-Q3_K_L.gguf"]  # the smallest
    assert paths(choose_gguf([f("mmproj-only.gguf")])) == []


def test_gguf_split_set_is_taken_whole() -> None:
    repo = [
        f("Q8_0/big-Q8_0-00001-of-00002.gguf", 50, lfs=True),
        f("Q8_0/big-Q8_0-00002-of-00002.gguf", 50, lfs=True),
        f("big-Q2_K.gguf", 30, lfs=True),
    ]
    assert paths(select_files(repo, [], "gguf")) == [
        "Q8_0/big-Q8_0-00001-of-00002.gguf",
        "Q8_0/big-Q8_0-00002-of-00002.gguf",
    ]
    assert paths(select_files(repo, ["*Q2_K*"], "gguf")) == ["big-Q2_K.gguf"]


@pytest.mark.parametrize(
    "path", ["../evil", "a/../../b", "/etc/passwd", "a//b", "a\\b", "./x", "", "a/./b"]
)
def test_unsafe_paths_from_the_hub_are_refused(path: str) -> None:
    with pytest.raises(HubResponseError) as caught:
        checked_file(path, 1, SHA1, None)
    assert caught.value.status == 502 and caught.value.code == "bad_hub_answer"


def test_file_metadata_is_checked() -> None:
    assert checked_file("a/b.json", 3, SHA1, None).etag == SHA1
    assert checked_file("w.safetensors", 3, SHA1, SHA256).etag == SHA256
    for size, blob, sha in [
        (None, SHA1, None),
        (1, "xyz", None),
        (1, SHA1, "../../x"),
        (-1, SHA1, None),
    ]:
        with pytest.raises(HubResponseError):
            checked_file("ok.json", size, blob, sha)


@pytest.mark.parametrize(
    ("listing", "says"),
    [
        (["config.json", "model.safetensors", "config.json"], "twice"),
        (["config.json", "config.json/inner.json"], "both as a file and as the folder"),
        (["a/b/c.json", "a/b"], "both as a file and as the folder"),
        (["x" * 300 + ".json"], "longer than 255 bytes"),
        (["dir/" + "é" * 128 + "/w.bin"], "longer than 255 bytes"),  # 256 bytes in UTF-8
    ],
)
def test_listings_no_folder_can_hold_are_bad_hub_answers(listing: list[str], says: str) -> None:
    """Reproduction: a Hub listing with a 300-character file name, with both ``config.json``
    and ``config.json/inner.json``, or with a path twice was planned as usual; the job then
    failed while linking (``internal_error``, the half-linked model listed as usable) or its
    rows could not be saved (503 ``DATABASE_UNAVAILABLE``)."""
    with pytest.raises(HubResponseError) as caught:
        check_listing([f(path) for path in listing])
    error = caught.value
    assert (error.status, error.code, error.src) == (502, "bad_hub_answer", "hub")
    assert says in error.message
    assert len(error.message) < 400  # a long name is not echoed whole


def test_listings_a_folder_can_hold_pass() -> None:
    check_listing(MLX_REPO)
    check_listing([f("config.json"), f("config.jsonx/inner.json"), f("a" * 255)])
    check_listing([f("dir/" + "é" * 127 + "/w.bin")])  # 254 bytes


def test_a_pattern_matching_nothing_is_echoed_at_most_200_characters() -> None:
    """Reproduction: a pattern of 1 MB matching nothing came back whole in the 400's message."""
    long = "q" * 256
    with pytest.raises(BadRequestError) as caught:
        select_files(MLX_REPO, [long, "*.gguf"], "mlx")
    assert "q" * 200 in caught.value.message and "q" * 201 not in caught.value.message
