"""The one model-id grammar: the parser, the patterns derived from it, the folder names."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field, ValidationError

from shared_schemas.model_ids import (
    HUB_REPO_PATTERN,
    LOCAL_NAME_PATTERN,
    MAX_ID_LENGTH,
    MAX_PART,
    MODEL_ID_PATTERN,
    PART_PATTERN,
    InvalidModelId,
    ModelId,
    ModelIdStr,
    is_local_name,
)

VALID = [
    "Qwen/Qwen2.5-7B-Instruct",
    "mlx-community/Llama-3.2-1B-Instruct-4bit",
    "gpt2",
    "a/b",
    "org_1/model_v1.0",
    "local/tiny",
    "a.-b/c-.d",
    "a_b/c__d",
    "o" * 96 + "/" + "n" * 96,
    "local/" + "x" * 128,
]
INVALID = [
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
    "org/name_",
    "org/.hidden",
    "org/name.",
    "org/na me",
    "org/name\x00",
    "org/name\n",
    "org/näme",
    "org\\name",
    "org/name?x=1",
    "C:/Windows",
    "o" * 97 + "/name",
    "org/" + "n" * 97,
    "local/" + "x" * 129,
    "x" * 1000,
]


class _Field(BaseModel):
    model: ModelIdStr


@pytest.mark.parametrize("raw", VALID)
def test_valid_ids_parse_and_match_every_pattern_engine(raw: str) -> None:
    parsed = ModelId.parse(raw)
    assert str(parsed) == raw
    assert re.fullmatch(MODEL_ID_PATTERN.removesuffix("$"), raw)
    assert _Field(model=raw).model == raw


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_ids_are_refused_by_the_parser_and_by_pydantic(raw: str) -> None:
    with pytest.raises(InvalidModelId) as caught:
        ModelId.parse(raw)
    assert caught.value.reason and len(str(caught.value)) < 250
    with pytest.raises(ValidationError):
        _Field(model=raw)


def test_the_pattern_decides_as_the_parser_does() -> None:
    for raw in VALID + INVALID:
        # ECMA's ``$`` is the end of the text; Python's also matches before a final newline.
        ecma = re.fullmatch(MODEL_ID_PATTERN.removesuffix("$"), raw)
        assert bool(ecma) == _parses(raw), raw


def test_the_part_pattern_runs_in_pydantics_rust_engine() -> None:
    class Author(BaseModel):
        name: str = Field(max_length=MAX_PART, pattern=rf"^{PART_PATTERN}$")

    assert Author(name="mlx-community").name == "mlx-community"
    for bad in ("a--b", "a..b", "-a", "a_", "a/b"):
        with pytest.raises(ValidationError):
            Author(name=bad)


def _parses(raw: str) -> bool:
    try:
        ModelId.parse(raw)
    except InvalidModelId:
        return False
    return True


def test_the_field_shows_the_pattern() -> None:
    schema = _Field.model_json_schema()["properties"]["model"]
    assert schema["pattern"] == MODEL_ID_PATTERN and schema["maxLength"] == MAX_ID_LENGTH


def test_hub_repos_need_a_namespace_and_local_names_are_one_part() -> None:
    assert re.match(HUB_REPO_PATTERN, "org/name")
    for raw in ("gpt2", "local/tiny", "o" * 97 + "/name"):
        assert not re.match(HUB_REPO_PATTERN, raw), raw
    assert re.match(LOCAL_NAME_PATTERN, "tiny-1.0")
    assert not re.match(LOCAL_NAME_PATTERN, "a/b")
    assert is_local_name("tiny") and not is_local_name("../x") and not is_local_name("a--b")
    assert ModelId.local("tiny") == ModelId("local", "tiny")
    with pytest.raises(InvalidModelId):
        ModelId.local(".hidden")


def test_folder_names_round_trip() -> None:
    assert ModelId.parse("Qwen/Qwen2.5-7B").folder_name == "models--Qwen--Qwen2.5-7B"
    assert ModelId.parse("gpt2").folder_name == "models--gpt2"
    assert ModelId.parse("local/tiny").folder_name == "tiny"
    for raw in ("Qwen/Qwen2.5-7B", "gpt2", "a.-b/c"):
        parsed = ModelId.parse(raw)
        assert ModelId.from_folder_name(parsed.folder_name) == parsed
    for folder in ("models--local--x", "models--a--b--c", "datasets--a--b", "models--", "x"):
        assert ModelId.from_folder_name(folder) is None, folder
