"""Details and variants built from Hub JSON (pure), including odd answers."""

from __future__ import annotations

from manager.hub.details import ConfigRead, build_details, has_file, parse_config, repo_files
from manager.hub.files import RepoFile
from manager.hub.schemas import HubVariant, QuantLevel
from manager.hub.variants import name_query, rank, variants_of, variants_query


def test_repo_files_tolerates_odd_siblings() -> None:
    info = {
        "id": "x/y",
        "siblings": [
            {"rfilename": "a.safetensors", "size": 10, "lfs": {"sha256": "f" * 64, "size": 10}},
            {"rfilename": "b.gguf", "lfs": {"sha256": 5, "size": 7}},
            {"rfilename": "c.json", "size": True},
            {"size": 3},
            "not a dict",
            {"rfilename": 5},
        ],
    }
    assert repo_files(info) == [
        RepoFile("a.safetensors", 10, "f" * 64, True),
        RepoFile("b.gguf", 7, None, True),
        RepoFile("c.json", None, None, False),
    ]
    assert repo_files({"id": "x/y", "siblings": "nope"}) == []
    assert has_file(info, "c.json") is True
    assert has_file(info, "d.json") is False
    assert has_file({"id": "x/y"}, "c.json") is None


def test_parse_config() -> None:
    assert parse_config(b'{"model_type": "llama"}', "abc") == ConfigRead(
        "ok", {"model_type": "llama"}, "abc"
    )
    assert parse_config(b"[1]", None).status == "invalid"
    assert parse_config(b'{"trunc', None).status == "invalid"


def test_minimal_details() -> None:
    details = build_details({"id": "gpt2"}, ConfigRead("missing"), None)
    assert details.id == "gpt2"
    assert details.author is None
    assert details.files == [] and details.selections == [] and details.total_size == 0
    assert details.characteristics is None and details.badges == []
    assert details.config_status == "missing"
    assert details.gated is False and details.gated_mode is None


def test_details_badge_from_the_name_without_config() -> None:
    info = {
        "id": "org/Model-7B-4bit",
        "gated": "auto",
        "library_name": "mlx",
        "siblings": [{"rfilename": "model.safetensors", "size": 5}],
    }
    details = build_details(info, ConfigRead("gated"), "# Model\n\nA model card paragraph of text.")
    assert details.badges == ["4-bit"]
    assert details.selections[0].quant == QuantLevel(label="4bit", bits=4)
    assert details.gated is True and details.gated_mode == "auto"
    assert details.card_summary == "A model card paragraph of text."


def test_variant_queries() -> None:
    query = variants_query("Org/Base", "gguf", 7)
    assert query[:4] == [
        ("filter", "base_model:quantized:Org/Base"),
        ("filter", "gguf"),
        ("sort", "downloads"),
        ("limit", "7"),
    ]
    assert name_query("Org/Base", "mlx", 7)[:2] == [("search", "Base"), ("filter", "mlx")]


def test_variants_without_details_come_from_the_listing() -> None:
    (mlx,) = variants_of({"id": "a/B-8bit", "downloads": 3}, None, "mlx")
    assert (mlx.quant, mlx.files, mlx.size) == (QuantLevel(label="8bit", bits=8), [], None)
    (gguf,) = variants_of({"id": "a/B-Q5_K_M-GGUF"}, None, "gguf")
    assert gguf.quant == QuantLevel(label="Q5_K_M", bits=5) and gguf.size is None


def test_gguf_variants_leave_projectors_out() -> None:
    info = {
        "id": "a/B-GGUF",
        "siblings": [
            {"rfilename": "b-Q4_0.gguf", "size": 4},
            {"rfilename": "mmproj-b-f16.gguf", "size": 1},
        ],
    }
    out = variants_of({"id": "a/B-GGUF"}, info, "gguf")
    assert [(v.quant.label if v.quant else None, v.size) for v in out] == [("Q4_0", 4)]


def test_rank_by_bits_then_label_then_downloads() -> None:
    def v(repo: str, label: str | None, bits: int | None, downloads: int) -> HubVariant:
        quant = QuantLevel(label=label, bits=bits) if label else None
        return HubVariant(id=repo, format="gguf", quant=quant, downloads=downloads)

    ranked = rank(
        [
            v("a", None, None, 1000),
            v("b", "Q8_0", 8, 5),
            v("c", "Q4_K_M", 4, 1),
            v("d", "Q4_K_M", 4, 50),
            v("e", "mixed-3-6", None, 9),
            v("f", "IQ4_XS", 4, 2),
            v("g", "Q2_K", 2, 0),
        ]
    )
    assert [x.id for x in ranked] == ["g", "f", "d", "c", "b", "a", "e"]
