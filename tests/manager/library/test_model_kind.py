"""What a local model is for: embedding models recognised by files, card and architecture."""

from __future__ import annotations

from pathlib import Path

import pytest

from manager.characteristics import extract_characteristics
from manager.library.formats import card_pipeline_tag, model_kind

QWEN3 = {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]}


def test_sentence_transformers_files_make_an_embedding_model() -> None:
    ch = extract_characteristics(QWEN3)
    assert model_kind("org/decoder", ch) == "chat"
    assert model_kind("org/decoder", ch, ["config.json", "modules.json"]) == "embedding"
    assert model_kind("org/decoder", ch, ["1_Pooling/config.json"]) == "embedding"


@pytest.mark.parametrize("tag", ["feature-extraction", "sentence-similarity"])
def test_pipeline_tags_make_an_embedding_model(tag: str) -> None:
    assert model_kind("org/m", extract_characteristics(QWEN3), pipeline_tag=tag) == "embedding"
    assert (
        model_kind("org/m", extract_characteristics(QWEN3), pipeline_tag="text-generation")
        == "chat"
    )


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "bert", "architectures": ["BertModel"]},
        {"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"]},
        {"model_type": "modernbert", "architectures": ["ModernBertForMaskedLM"]},
        {"model_type": "custom", "architectures": ["CustomForMaskedLM"]},
    ],
)
def test_encoder_architectures_are_embedding_models(config: dict[str, object]) -> None:
    assert model_kind("org/m", extract_characteristics(config)) == "embedding"


def test_card_pipeline_tag(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: mit\npipeline_tag: sentence-similarity\n---\n# Model\n")
    assert card_pipeline_tag(card) == "sentence-similarity"
    card.write_text("# No front matter\npipeline_tag: feature-extraction\n")
    assert card_pipeline_tag(card) is None
    assert card_pipeline_tag(tmp_path / "missing.md") is None
