"""Search request building, cursors, and listing items → results (no Hub needed)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from manager.errors import BadRequestError
from manager.hub.search import (
    SEARCH_EXPAND,
    SearchQuery,
    decode_cursor,
    encode_cursor,
    hub_query,
    search_result,
)


def test_hub_query_maps_every_filter() -> None:
    query = SearchQuery(
        q="qwen", author="mlx-community", library="mlx", pipeline_tag="text-generation",
        sort="trending", limit=5,
    )  # fmt: skip
    params = hub_query(query)
    assert params[:6] == [
        ("search", "qwen"),
        ("author", "mlx-community"),
        ("filter", "mlx"),
        ("pipeline_tag", "text-generation"),
        ("sort", "trendingScore"),
        ("limit", "5"),
    ]
    assert [v for k, v in params if k == "expand"] == list(SEARCH_EXPAND)


def test_hub_query_defaults() -> None:
    params = hub_query(SearchQuery())
    assert ("sort", "downloads") in params
    assert ("limit", "20") in params
    assert not any(k in ("search", "author", "filter", "pipeline_tag") for k, _ in params)


@pytest.mark.parametrize(
    ("sort", "hub_sort"),
    [("downloads", "downloads"), ("likes", "likes"), ("lastModified", "lastModified")],
)
def test_sorts(sort: str, hub_sort: str) -> None:
    assert ("sort", hub_sort) in hub_query(SearchQuery(sort=sort))  # type: ignore[arg-type]


def test_cursor_round_trip_keeps_repeated_parameters() -> None:
    url = "https://hub.example/api/models?search=a+b&filter=mlx&filter=gguf&cursor=eyJ9&limit=20"
    cursor = encode_cursor(url)
    assert cursor is not None and "=" not in cursor
    assert decode_cursor(cursor) == [
        ("search", "a b"),
        ("filter", "mlx"),
        ("filter", "gguf"),
        ("cursor", "eyJ9"),
        ("limit", "20"),
    ]


@pytest.mark.parametrize(
    "url", ["", "https://hub.example/api/datasets?cursor=x", "https://hub.example/api/models"]
)
def test_no_cursor_for_other_links(url: str) -> None:
    assert encode_cursor(url) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"no-equals-sign").decode().rstrip("="),
        "A" * 5000,
    ],
)
def test_bad_cursors_are_400(cursor: str) -> None:
    with pytest.raises(BadRequestError) as info:
        decode_cursor(cursor)
    assert info.value.param == "cursor"


def test_result_from_a_listing_item() -> None:
    item = {
        "id": "mlx-community/Qwen2.5-7B-Instruct-4bit",
        "author": "mlx-community",
        "downloads": 1234,
        "likes": 7,
        "lastModified": "2024-09-18T12:00:00.000Z",
        "tags": ["mlx", "safetensors", 5],
        "library_name": "mlx",
        "pipeline_tag": "text-generation",
        "gated": False,
        "config": {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "quantization": {"bits": 4, "group_size": 64},
            "tokenizer_config": {"eos_token": "<|im_end|>"},
        },
    }
    result = search_result(item)
    assert result.id == item["id"]
    assert result.downloads == 1234 and result.likes == 7
    assert result.last_modified == datetime(2024, 9, 18, 12, tzinfo=UTC)
    assert result.tags == ["mlx", "safetensors"]
    assert result.quant is not None and result.quant.label == "4bit"
    assert result.characteristics is not None
    assert result.characteristics.architecture_family == "Qwen"
    assert result.badges == ["Qwen", "4-bit"]


def test_full_config_overrides_listing_config() -> None:
    item = {"id": "Qwen/Qwen2.5-7B", "config": {"model_type": "qwen2"}}
    full = {"model_type": "qwen2", "max_position_embeddings": 32768}
    assert search_result(item).badges == ["Qwen"]
    assert search_result(item, full).badges == ["Qwen", "32K ctx"]


def test_quant_from_the_name_when_the_listing_has_no_config() -> None:
    result = search_result({"id": "org/Llama-3-8B-Q4_K_M-GGUF", "gated": "manual"})
    assert result.characteristics is None
    assert result.badges == ["Q4_K_M"]
    assert result.gated is True
    assert result.author == "org"
    name_only = search_result({"id": "org/Llama-3-8B-8bit", "config": {"model_type": "llama"}})
    assert name_only.badges == ["Llama", "8-bit"]


@pytest.mark.parametrize(
    "item",
    [
        {"id": "gpt2"},
        {"id": "x/y", "downloads": -3, "likes": True, "lastModified": "yesterday", "tags": "mlx"},
        {"id": "x/y", "config": "not a dict", "library_name": 5, "pipeline_tag": ""},
        {"id": "x/y", "config": {"quantization": {"bits": "four"}}},
    ],
)
def test_odd_items_never_raise(item: dict) -> None:
    result = search_result(item)
    assert result.downloads == 0 and result.likes == 0
    assert result.last_modified is None
