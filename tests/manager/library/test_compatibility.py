"""Compatibility, the pure verdict: format, architecture, quantization, memory."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from manager.characteristics import extract_characteristics
from manager.library.compatibility import (
    CompatibilityFacts,
    architecture_supported,
    assess,
    head_dim_of,
    images_served,
    kv_cache_bytes,
)

GIB = 2**30
LLAMA_8B: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "vocab_size": 128256,
    "quantization": {"bits": 4, "group_size": 64},
}
UNQUANTIZED = {k: v for k, v in LLAMA_8B.items() if k != "quantization"}


def facts(config: dict[str, Any] | None = None, **changes: Any) -> CompatibilityFacts:
    config = config if config is not None else LLAMA_8B
    ch = extract_characteristics(config)
    base = CompatibilityFacts(
        model_id="org/m",
        local=True,
        source="hub",
        format="mlx",
        weights="safetensors",
        characteristics=ch,
        architecture_supported=True,
        weight_bytes=4 * GIB,
        head_dim=head_dim_of(config, ch),
        context_tokens=4096,
        budget_bytes=32 * GIB,
        physical_memory_bytes=64 * GIB,
    )
    return replace(base, **changes)


def codes(report: Any) -> set[str]:
    return {reason.code for reason in report.reasons}


def test_supported_model_with_room_runs() -> None:
    report = assess(facts())
    assert report.compatible
    assert report.label == "runs"
    assert report.score == 1.0
    req = report.requirements
    # 2 (K, V) x 32 layers x 8 KV heads x 128 head size x 2 bytes x 4096 tokens = 512 MiB
    assert req.kv_cache_bytes == 512 * 2**20
    assert req.estimated_memory_bytes == int((4 * GIB + 512 * 2**20) * 1.1)
    assert req.architecture_supported is True


def test_unsupported_architecture() -> None:
    report = assess(facts(architecture_supported=False))
    assert not report.compatible
    assert report.label == "not-loadable"
    assert report.score == 0
    assert "unsupported_architecture" in codes(report)
    assert report.recommendations


def test_gguf_is_not_loadable_and_recommends_mlx() -> None:
    report = assess(facts(format="gguf", weights="gguf", architecture_supported=None))
    assert not report.compatible
    assert "unsupported_format" in codes(report)
    assert any("MLX variant" in r for r in report.recommendations)


def test_pickle_weights_are_unsafe() -> None:
    report = assess(facts(format="transformers", weights="pickle"))
    assert not report.compatible
    assert "unsafe_format" in codes(report)


def test_no_weights() -> None:
    assert "no_weights" in codes(assess(facts(format="unknown", weights="none")))


def test_too_big_for_the_budget() -> None:
    report = assess(facts(weight_bytes=40 * GIB, budget_bytes=16 * GIB))
    assert not report.compatible
    assert report.label == "too-big"
    assert "exceeds_budget" in codes(report)
    assert 0 < report.score < 0.25
    assert any("MLX_SERVER_MAX_MEMORY_GB" in r for r in report.recommendations)


def test_too_big_for_the_machine() -> None:
    report = assess(facts(weight_bytes=80 * GIB, budget_bytes=None))
    assert not report.compatible
    assert {"exceeds_memory", "budget_unknown"} <= codes(report)


def test_score_falls_as_memory_fills() -> None:
    scores = [
        assess(facts(weight_bytes=size * GIB, budget_bytes=32 * GIB)).score
        for size in (4, 16, 22, 26)
    ]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 1.0
    assert scores[-1] >= 0.6
    tight = assess(facts(weight_bytes=26 * GIB, budget_bytes=32 * GIB))
    assert tight.compatible
    assert tight.label == "tight"
    assert "memory_tight" in codes(tight)


def test_larger_context_needs_more_memory() -> None:
    small = assess(facts(context_tokens=4096)).requirements.estimated_memory_bytes
    large = assess(facts(context_tokens=131072)).requirements.estimated_memory_bytes
    assert small is not None and large is not None
    assert large - small == pytest.approx(1.1 * 2 * 32 * 8 * 128 * 2 * (131072 - 4096), rel=1e-6)


@pytest.mark.parametrize(
    ("quantization", "compatible", "code"),
    [
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, False, "unsupported_quantization"),
        ({"quant_method": "gptq", "bits": 8}, False, "unsupported_quantization"),
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, True, "converted_at_load"),
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, True, "converted_at_load"),
    ],
)
def test_quantization(quantization: dict[str, Any], compatible: bool, code: str) -> None:
    config = {**UNQUANTIZED, "quantization_config": quantization}
    report = assess(facts(config, format="transformers"))
    assert report.compatible is compatible
    assert code in codes(report)


def test_mlx_quantization_is_plain() -> None:
    config = {**LLAMA_8B, "quantization": {"bits": 4, "group_size": 64}}
    report = assess(facts(config))
    assert report.requirements.quantization == "mlx 4-bit"
    assert "converted_at_load" not in codes(report)


def test_large_unquantized_model_gets_a_recommendation() -> None:
    report = assess(facts(UNQUANTIZED, format="transformers", weight_bytes=16 * GIB))
    assert report.compatible
    assert "unquantized" in codes(report)
    assert "converted_at_load" in codes(report)
    assert any("4-bit MLX variant" in r for r in report.recommendations)


def test_multimodal_is_served_as_text() -> None:
    config = {**LLAMA_8B, "vision_config": {"depth": 2}}
    report = assess(facts(config))
    assert report.compatible
    assert "text_only" in codes(report)
    assert report.score < 1


def test_a_vision_model_the_server_takes_images_for_has_no_text_only_warning() -> None:
    config = {**LLAMA_8B, "model_type": "qwen2_vl", "vision_config": {"depth": 2}}
    ch = extract_characteristics(config)
    assert images_served(ch, ["qwen2_vl", "llava"])
    assert not images_served(ch, ["llava"])
    assert not images_served(ch, None)  # the server has not said
    served = assess(facts(config, images_served=True))
    assert "text_only" not in codes(served) and "images_served" in codes(served)
    assert served.score == assess(facts()).score
    assert "text_only" in codes(assess(facts(config, images_served=False)))


def test_audio_is_never_said_to_be_served() -> None:
    ch = extract_characteristics({**LLAMA_8B, "model_type": "qwen2_vl", "audio_config": {}})
    assert not images_served(ch, ["qwen2_vl"])


def test_unknown_size_is_said() -> None:
    report = assess(facts(weight_bytes=None))
    assert report.compatible
    assert "memory_unknown" in codes(report)
    assert report.requirements.estimated_memory_bytes is None


def test_kv_cache_needs_the_shape() -> None:
    ch = extract_characteristics({"model_type": "llama"})
    assert kv_cache_bytes(ch, None, 4096) is None


def test_architecture_is_what_the_inference_server_reported() -> None:
    reported = frozenset({"llama", "mistral", "qwen2"})
    assert architecture_supported("llama", reported) is True
    assert architecture_supported("mistral", reported) is True
    assert architecture_supported("gemma3", reported) is False
    assert architecture_supported("../../etc", reported) is False
    assert architecture_supported(None, reported) is False
    assert architecture_supported("llama", None) is None  # never answered: not decided here


def test_architecture_not_checked_says_the_server_could_not_be_asked() -> None:
    report = assess(facts(architecture_supported=None))
    reason = next(r for r in report.reasons if r.code == "architecture_unknown")
    assert reason.severity == "warning"
    assert "inference server could not be asked" in reason.message
    assert report.compatible and report.label == "runs"  # 0.9 of a roomy fit


def test_architecture_from_an_earlier_answer_is_said() -> None:
    stale = assess(facts(architecture_supported=True, model_types_stale=True))
    assert "architecture_last_known" in codes(stale)
    assert stale.compatible
    refused = assess(facts(architecture_supported=False, model_types_stale=True))
    assert {"unsupported_architecture", "architecture_last_known"} <= codes(refused)
    assert refused.label == "not-loadable"
    fresh = assess(facts(architecture_supported=True))
    assert "architecture_last_known" not in codes(fresh)
