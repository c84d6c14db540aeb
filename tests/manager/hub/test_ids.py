from __future__ import annotations

import pytest

from manager.errors import BadRequestError
from manager.hub.ids import ModelId, parse_hub_id, parse_model_id


@pytest.mark.parametrize(
    ("raw", "namespace", "name"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", "Qwen", "Qwen2.5-7B-Instruct"),
        ("mlx-community/Llama-3.2-1B-Instruct-4bit", "mlx-community", "Llama-3.2-1B-Instruct-4bit"),
        ("gpt2", None, "gpt2"),
        ("a/b", "a", "b"),
        ("org_1/model_v1.0", "org_1", "model_v1.0"),
        ("local/tiny", "local", "tiny"),
        ("o" * 96 + "/" + "n" * 96, "o" * 96, "n" * 96),
    ],
)
def test_valid_ids(raw: str, namespace: str | None, name: str) -> None:
    parsed = parse_model_id(raw)
    assert parsed == ModelId(namespace, name)
    assert str(parsed) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "/",
        "org/",
        "/name",
        "org//name",
        "a/b/c",
        "..",
        "org/..",
        "../etc/passwd",
        "org/na..me",
        "org/na--me",
        "-org/name",
        "org/name-",
        "org/.hidden",
        "org/name.",
        "org/na me",
        "org/name\x00",
        "org/näme",
        "org\\name",
        "org/name?x=1",
        "org/name#x",
        "/etc/passwd",
        "C:/Windows",
        "o" * 97 + "/name",
        "org/" + "n" * 97,
        "x" * 1000,
    ],
)
def test_invalid_ids(raw: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_model_id(raw)
    assert info.value.status == 400
    assert info.value.param == "model_id"
    assert info.value.resolution_steps


def test_error_message_is_bounded() -> None:
    with pytest.raises(BadRequestError) as info:
        parse_model_id("x" * 5000)
    assert len(info.value.message) < 250


def test_hub_ids_refuse_local() -> None:
    assert parse_hub_id("org/name") == ModelId("org", "name")
    with pytest.raises(BadRequestError):
        parse_hub_id("local/tiny")


def test_cache_folder_name() -> None:
    assert ModelId("Qwen", "Qwen2.5-7B").folder_name == "models--Qwen--Qwen2.5-7B"
    assert ModelId(None, "gpt2").folder_name == "models--gpt2"
    assert ModelId("local", "tiny").folder_name == "tiny"
