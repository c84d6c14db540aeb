import json

from shared_schemas.characteristics import ModelCharacteristics


def test_defaults_are_unknown() -> None:
    ch = ModelCharacteristics()
    assert ch.model_type is None
    assert ch.architecture_family == "Unknown"
    assert ch.architectures == []
    assert ch.context_length is None
    assert ch.num_key_value_heads is None
    assert ch.quantization_bits is None
    assert ch.quantization_method is None
    assert ch.is_multimodal is False
    assert ch.multimodal_type is None
    assert ch.use_cache is True
    assert ch.parameter_count is None
    assert ch.badges == []


def test_lists_are_not_shared_between_instances() -> None:
    first, second = ModelCharacteristics(), ModelCharacteristics()
    first.badges.append("Qwen")
    first.architectures.append("Qwen2ForCausalLM")
    assert second.badges == []
    assert second.architectures == []


def test_unknown_fields_are_ignored() -> None:
    ch = ModelCharacteristics.model_validate({"model_type": "llama", "something_new": 1})
    assert ch.model_type == "llama"
    assert "something_new" not in ch.model_dump()


def test_json_round_trip() -> None:
    ch = ModelCharacteristics(
        model_type="qwen2",
        architecture_family="Qwen",
        architectures=["Qwen2ForCausalLM"],
        context_length=32768,
        quantization_bits=4,
        quantization_group_size=64,
        quantization_method="mlx",
        is_multimodal=True,
        multimodal_type="vision",
        parameter_count=7_615_616_512,
        badges=["Qwen", "4-bit", "Vision", "32K ctx", "7.6B"],
    )
    assert ModelCharacteristics.model_validate_json(ch.model_dump_json()) == ch
    assert json.loads(ch.model_dump_json())["architecture_family"] == "Qwen"
