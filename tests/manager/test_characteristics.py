"""config.json → characteristics and badges. Configs below are the public config.json values."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from manager.characteristics import (
    architecture_family,
    badges,
    context_badge,
    estimate_parameters,
    extract_characteristics,
    size_badge,
)
from shared_schemas.characteristics import ModelCharacteristics

LLAMA_3_2_1B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 8192,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 16,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.45.0.dev0",
    "use_cache": True,
    "vocab_size": 128256,
}

LLAMA_3_1_8B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "vocab_size": 128256,
}

QWEN2_5_7B: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_act": "silu",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "model_type": "qwen2",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 131072,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 152064,
}

QWEN2_5_0_5B: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 896,
    "intermediate_size": 4864,
    "max_position_embeddings": 32768,
    "model_type": "qwen2",
    "num_attention_heads": 14,
    "num_hidden_layers": 24,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 151936,
}

SMOLLM_135M: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 576,
    "intermediate_size": 1536,
    "max_position_embeddings": 2048,
    "model_type": "llama",
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "tie_word_embeddings": True,
    "vocab_size": 49152,
}

MISTRAL_7B: dict[str, Any] = {
    "architectures": ["MistralForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "model_type": "mistral",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}

MIXTRAL_8X7B: dict[str, Any] = {
    "architectures": ["MixtralForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "model_type": "mixtral",
    "num_attention_heads": 32,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "tie_word_embeddings": False,
    "vocab_size": 32000,
}

QWEN3_30B_A3B: dict[str, Any] = {
    "architectures": ["Qwen3MoeForCausalLM"],
    "decoder_sparse_step": 1,
    "head_dim": 128,
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "max_position_embeddings": 40960,
    "mlp_only_layers": [],
    "model_type": "qwen3_moe",
    "moe_intermediate_size": 768,
    "num_attention_heads": 32,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "num_hidden_layers": 48,
    "num_key_value_heads": 4,
    "tie_word_embeddings": False,
    "vocab_size": 151936,
}

GPT_OSS_20B: dict[str, Any] = {
    "architectures": ["GptOssForCausalLM"],
    "head_dim": 64,
    "hidden_size": 2880,
    "intermediate_size": 2880,
    "max_position_embeddings": 131072,
    "model_type": "gpt_oss",
    "num_attention_heads": 64,
    "num_experts_per_tok": 4,
    "num_hidden_layers": 24,
    "num_key_value_heads": 8,
    "num_local_experts": 32,
    "quantization_config": {
        "modules_to_not_convert": ["model.layers.*.self_attn", "model.embed_tokens", "lm_head"],
        "quant_method": "mxfp4",
    },
    "sliding_window": 128,
    "tie_word_embeddings": False,
    "vocab_size": 201088,
}

DEEPSEEK_V3: dict[str, Any] = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "first_k_dense_replace": 3,
    "hidden_size": 7168,
    "intermediate_size": 18432,
    "kv_lora_rank": 512,
    "max_position_embeddings": 163840,
    "model_type": "deepseek_v3",
    "moe_intermediate_size": 2048,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_attention_heads": 128,
    "num_experts_per_tok": 8,
    "num_hidden_layers": 61,
    "num_key_value_heads": 128,
    "q_lora_rank": 1536,
    "quantization_config": {
        "activation_scheme": "dynamic",
        "fmt": "e4m3",
        "quant_method": "fp8",
        "weight_block_size": [128, 128],
    },
    "tie_word_embeddings": False,
    "vocab_size": 129280,
}

QWEN2_VL_7B: dict[str, Any] = {
    "architectures": ["Qwen2VLForConditionalGeneration"],
    "hidden_size": 3584,
    "image_token_id": 151655,
    "intermediate_size": 18944,
    "max_position_embeddings": 32768,
    "model_type": "qwen2_vl",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "video_token_id": 151656,
    "vision_config": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "num_heads": 16},
    "vision_end_token_id": 151653,
    "vision_start_token_id": 151652,
    "vocab_size": 152064,
}

LLAVA_1_5_7B: dict[str, Any] = {
    "architectures": ["LlavaForConditionalGeneration"],
    "ignore_index": -100,
    "image_token_index": 32000,
    "model_type": "llava",
    "pad_token_id": 32001,
    "projector_hidden_act": "gelu",
    "text_config": {
        "_name_or_path": "lmsys/vicuna-7b-v1.5",
        "architectures": ["LlamaForCausalLM"],
        "max_position_embeddings": 4096,
        "model_type": "llama",
        "rms_norm_eps": 1e-05,
        "torch_dtype": "float16",
        "vocab_size": 32064,
    },
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "vision_config": {
        "hidden_size": 1024,
        "image_size": 336,
        "model_type": "clip_vision_model",
        "num_attention_heads": 16,
        "num_hidden_layers": 24,
        "patch_size": 14,
    },
    "vision_feature_layer": -2,
    "vision_feature_select_strategy": "default",
    "vocab_size": 32064,
}

MLLAMA_11B: dict[str, Any] = {
    "architectures": ["MllamaForConditionalGeneration"],
    "image_token_index": 128256,
    "model_type": "mllama",
    "text_config": {
        "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38],
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 131072,
        "model_type": "mllama_text_model",
        "num_attention_heads": 32,
        "num_hidden_layers": 40,
        "num_key_value_heads": 8,
        "torch_dtype": "bfloat16",
        "vocab_size": 128256,
    },
    "torch_dtype": "bfloat16",
    "vision_config": {"hidden_size": 1280, "image_size": 560, "model_type": "mllama_vision_model"},
}

GEMMA3_4B: dict[str, Any] = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "boi_token_index": 255999,
    "eoi_token_index": 256000,
    "image_token_index": 262144,
    "mm_tokens_per_image": 256,
    "model_type": "gemma3",
    "text_config": {
        "head_dim": 256,
        "hidden_size": 2560,
        "intermediate_size": 10240,
        "model_type": "gemma3_text",
        "num_attention_heads": 8,
        "num_hidden_layers": 34,
        "num_key_value_heads": 4,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 1024,
    },
    "torch_dtype": "bfloat16",
    "vision_config": {"hidden_size": 1152, "image_size": 896, "model_type": "siglip_vision_model"},
}

QWEN2_AUDIO: dict[str, Any] = {
    "architectures": ["Qwen2AudioForConditionalGeneration"],
    "audio_config": {"d_model": 1280, "model_type": "qwen2_audio_encoder"},
    "audio_token_index": 151646,
    "model_type": "qwen2_audio",
    "text_config": {"model_type": "qwen2", "vocab_size": 156032, "max_position_embeddings": 8192},
    "vocab_size": 156032,
}

GEMMA3N: dict[str, Any] = {
    "architectures": ["Gemma3nForConditionalGeneration"],
    "audio_config": {"model_type": "gemma3n_audio"},
    "model_type": "gemma3n",
    "text_config": {"model_type": "gemma3n_text", "max_position_embeddings": 32768},
    "vision_config": {"model_type": "gemma3n_vision"},
}

GPT2: dict[str, Any] = {
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "vocab_size": 50257,
}


def ch(config: object) -> ModelCharacteristics:
    return extract_characteristics(config)


# ---- family ---------------------------------------------------------------------------------

EXACT_FAMILIES = [
    ("llama", "Llama"),
    ("mllama", "Llama"),
    ("qwen2", "Qwen"),
    ("qwen3", "Qwen"),
    ("qwen2_vl", "Qwen"),
    ("qwen2_5_vl", "Qwen"),
    ("qwen3_moe", "Qwen"),
    ("mistral", "Mistral"),
    ("mixtral", "Mistral"),
    ("mistral3", "Mistral"),
    ("gemma", "Gemma"),
    ("gemma2", "Gemma"),
    ("gemma3", "Gemma"),
    ("gemma3_text", "Gemma"),
    ("phi", "Phi"),
    ("phi3", "Phi"),
    ("phimoe", "Phi"),
    ("starcoder2", "StarCoder"),
    ("deepseek_v2", "DeepSeek"),
    ("deepseek_v3", "DeepSeek"),
    ("glm", "GLM"),
    ("glm4", "GLM"),
    ("chatglm", "GLM"),
    ("minimax", "MiniMax"),
    ("cohere", "Command R"),
    ("cohere2", "Command R"),
    ("olmo", "OLMo"),
    ("olmo2", "OLMo"),
    ("granite", "Granite"),
    ("falcon", "Falcon"),
    ("gpt_oss", "GPT-OSS"),
    ("gpt2", "GPT-2"),
]


@pytest.mark.parametrize(("model_type", "family"), EXACT_FAMILIES)
def test_exact_family(model_type: str, family: str) -> None:
    result = ch({"model_type": model_type})
    assert result.model_type == model_type
    assert result.architecture_family == family


@pytest.mark.parametrize(("model_type", "family"), EXACT_FAMILIES)
def test_family_ignores_case_and_spaces(model_type: str, family: str) -> None:
    assert ch({"model_type": f" {model_type.upper()} "}).architecture_family == family


@pytest.mark.parametrize(
    ("model_type", "family"),
    [
        ("llama4", "Llama"),
        ("llama4_text", "Llama"),
        ("qwen2_moe", "Qwen"),
        ("qwen3_next", "Qwen"),
        ("qwen3_vl_moe", "Qwen"),
        ("ministral", "Mistral"),
        ("pixtral", "Mistral"),
        ("recurrent_gemma", "Gemma"),
        ("paligemma", "Gemma"),
        ("gemma3n", "Gemma"),
        ("phi4mm", "Phi"),
        ("phi3_v", "Phi"),
        ("deepseek_vl_v2", "DeepSeek"),
        ("glm4_moe", "GLM"),
        ("glm4v", "GLM"),
        ("minimax_m2", "MiniMax"),
        ("olmo3", "OLMo"),
        ("olmoe", "OLMo"),
        ("granitemoe", "Granite"),
        ("granitemoehybrid", "Granite"),
        ("falcon_h1", "Falcon"),
        ("falcon_mamba", "Falcon"),
        ("mamba2", "Mamba"),
        ("jamba", "Jamba"),
        ("gpt_bigcode", "StarCoder"),
        ("gpt_neox", "GPT-NeoX"),
        ("gptj", "GPT-J"),
        ("internlm2", "InternLM"),
        ("internvl_chat", "InternVL"),
        ("exaone4", "EXAONE"),
        ("stablelm", "StableLM"),
        ("smollm3", "SmolLM"),
        ("nemotron_h", "Nemotron"),
        ("hunyuan_v1_dense", "Hunyuan"),
        ("ernie4_5", "ERNIE"),
        ("kimi_vl", "Kimi"),
        ("seed_oss", "Seed-OSS"),
        ("lfm2", "LFM"),
        ("idefics3", "Idefics"),
        ("llava_next", "LLaVA"),
        ("codellama-like", "Llama"),
    ],
)
def test_partial_family(model_type: str, family: str) -> None:
    assert ch({"model_type": model_type}).architecture_family == family


@pytest.mark.parametrize(
    ("architecture", "family"),
    [
        ("LlamaForCausalLM", "Llama"),
        ("Qwen2_5_VLForConditionalGeneration", "Qwen"),
        ("GptOssForCausalLM", "GPT-OSS"),
        ("GPT2LMHeadModel", "GPT-2"),
        ("GPTBigCodeForCausalLM", "StarCoder"),
        ("DeepseekV3ForCausalLM", "DeepSeek"),
        ("Phi3ForCausalLM", "Phi"),
        ("FooBarForCausalLM", "FooBar"),
        ("FooBarForConditionalGeneration", "FooBar"),
        ("FooBarLMHeadModel", "FooBar"),
        ("FooBarModel", "FooBar"),
        ("FooBar", "FooBar"),
        ("ForCausalLM", "ForCausalLM"),
    ],
)
def test_architectures_fallback(architecture: str, family: str) -> None:
    result = ch({"architectures": [architecture, "Other"]})
    assert result.architecture_family == family
    assert result.architectures == [architecture, "Other"]


def test_model_type_wins_over_architectures() -> None:
    assert (
        ch({"model_type": "qwen2", "architectures": ["LlamaForCausalLM"]}).architecture_family
        == "Qwen"
    )


def test_unknown_model_type_falls_back_to_architectures() -> None:
    result = ch({"model_type": "zzz", "architectures": ["MistralForCausalLM"]})
    assert result.architecture_family == "Mistral"
    assert result.model_type == "zzz"


@pytest.mark.parametrize(
    "config", [{}, {"model_type": "zzz"}, {"architectures": []}, {"architectures": [1, None, ""]}]
)
def test_unknown_family(config: dict[str, Any]) -> None:
    assert ch(config).architecture_family == "Unknown"


def test_substring_table_prefers_the_longest_match() -> None:
    # "falconmamba" holds both "falcon" and "mamba"; "chatglm" holds "glm".
    assert architecture_family(["falconmamba"], []) == "Falcon"
    assert architecture_family(["chatglm3"], []) == "GLM"


@pytest.mark.parametrize(
    ("config", "family"),
    [
        (LLAVA_1_5_7B, "Llama"),
        ({"model_type": "llava", "text_config": {"model_type": "mistral"}}, "Mistral"),
        ({"model_type": "llava"}, "LLaVA"),
        ({"model_type": "idefics3", "text_config": {"model_type": "llama"}}, "Llama"),
        ({"text_config": {"model_type": "qwen2"}}, "Qwen"),
        ({"model_type": "zzz", "text_config": {"model_type": "zzz_gemma_text"}}, "Gemma"),
        ({"llm_config": {"model_type": "internlm2"}}, "InternLM"),
        ({"model_type": "mllama", "text_config": {"model_type": "mllama_text_model"}}, "Llama"),
        (QWEN2_AUDIO, "Qwen"),
        (GEMMA3N, "Gemma"),
        (GEMMA3_4B, "Gemma"),
    ],
)
def test_family_of_wrappers_reads_text_config(config: dict[str, Any], family: str) -> None:
    assert ch(config).architecture_family == family


def test_model_type_comes_from_text_config_when_the_top_level_has_none() -> None:
    assert ch({"text_config": {"model_type": "qwen2"}}).model_type == "qwen2"
    assert ch(LLAVA_1_5_7B).model_type == "llava"


# ---- shape ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["max_position_embeddings", "max_sequence_length", "seq_length", "n_positions", "n_ctx"]
)
def test_each_context_key(key: str) -> None:
    assert ch({key: 8192}).context_length == 8192
    assert ch({"text_config": {key: 4096}}).context_length == 4096
    assert ch({"llm_config": {key: 2048}}).context_length == 2048
    assert ch({"language_config": {key: 1024}}).context_length == 1024


def test_context_top_level_first_then_key_order() -> None:
    assert (
        ch(
            {"max_position_embeddings": 8192, "text_config": {"max_position_embeddings": 4096}}
        ).context_length
        == 8192
    )
    assert (
        ch({"n_ctx": 2048, "text_config": {"max_position_embeddings": 4096}}).context_length == 2048
    )
    assert ch({"n_ctx": 2048, "max_position_embeddings": 32768}).context_length == 32768
    assert ch({"max_position_embeddings": "big", "seq_length": 4096}).context_length == 4096
    assert (
        ch(
            {"max_position_embeddings": 0, "text_config": {"max_position_embeddings": 4096}}
        ).context_length
        == 4096
    )


@pytest.mark.parametrize(
    ("field", "keys"),
    [
        ("num_hidden_layers", ["num_hidden_layers", "n_layer", "num_layers"]),
        ("hidden_size", ["hidden_size", "n_embd", "d_model"]),
        ("intermediate_size", ["intermediate_size", "ffn_hidden_size", "n_inner", "d_ff"]),
        ("vocab_size", ["vocab_size", "padded_vocab_size"]),
        ("num_attention_heads", ["num_attention_heads", "n_head", "num_heads"]),
        (
            "num_key_value_heads",
            ["num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"],
        ),
    ],
)
def test_shape_aliases_and_text_config(field: str, keys: list[str]) -> None:
    for key in keys:
        assert getattr(ch({key: 24}), field) == 24, key
        assert getattr(ch({"text_config": {key: 12}}), field) == 12, key
        assert getattr(ch({key: 24, "text_config": {key: 12}}), field) == 24, key
    assert getattr(ch({}), field) is None


def test_kv_heads_absent_is_none() -> None:
    assert ch({"num_attention_heads": 32}).num_key_value_heads is None


def test_real_llama_config() -> None:
    result = ch(LLAMA_3_2_1B)
    assert result.model_dump(exclude={"parameter_count", "badges"}) == {
        "model_type": "llama",
        "architecture_family": "Llama",
        "architectures": ["LlamaForCausalLM"],
        "context_length": 131072,
        "num_hidden_layers": 16,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "vocab_size": 128256,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "quantization_bits": None,
        "quantization_group_size": None,
        "quantization_method": None,
        "is_multimodal": False,
        "multimodal_type": None,
        "use_cache": True,
        "torch_dtype": "bfloat16",
        "max_position_embeddings": 131072,
    }
    assert result.badges == ["Llama", "128K ctx", "1.2B"]


def test_gpt2_style_keys() -> None:
    result = ch(GPT2)
    assert (result.context_length, result.num_hidden_layers, result.hidden_size) == (1024, 12, 768)
    assert (result.num_attention_heads, result.vocab_size) == (12, 50257)
    assert result.architecture_family == "GPT-2"


def test_vlm_shape_comes_from_text_config() -> None:
    result = ch(MLLAMA_11B)
    assert (result.num_hidden_layers, result.hidden_size, result.vocab_size) == (40, 4096, 128256)
    assert (result.num_attention_heads, result.num_key_value_heads) == (32, 8)
    assert result.context_length == 131072
    gemma = ch(GEMMA3_4B)
    assert (gemma.num_hidden_layers, gemma.hidden_size, gemma.intermediate_size) == (
        34,
        2560,
        10240,
    )
    assert gemma.context_length is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"torch_dtype": "bfloat16"}, "bfloat16"),
        ({"dtype": "float16"}, "float16"),
        ({"torch_dtype": "bfloat16", "dtype": "float16"}, "bfloat16"),
        ({"text_config": {"torch_dtype": "float32"}}, "float32"),
        ({"torch_dtype": 16}, None),
        ({"torch_dtype": ""}, None),
        ({}, None),
    ],
)
def test_dtype(config: dict[str, Any], expected: str | None) -> None:
    assert ch(config).torch_dtype == expected


# ---- quantization ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "bits", "group", "method"),
    [
        ({"quantization": {"group_size": 64, "bits": 4}}, 4, 64, "mlx"),
        (
            {
                "quantization": {"group_size": 32, "bits": 8},
                "quantization_config": {"group_size": 32, "bits": 8},
            },
            8,
            32,
            "mlx",
        ),
        (
            {
                "quantization": {
                    "group_size": 64,
                    "bits": 4,
                    "model.layers.0.mlp.gate": {"group_size": 64, "bits": 8},
                }
            },
            4,
            64,
            "mlx",
        ),
        ({"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}}, 4, 32, "mlx"),
        ({"quantization_config": {"group_size": 64, "bits": 3}}, 3, 64, "mlx"),
        ({"quantization_config": {"bits": 6}}, 6, None, "mlx"),
        (
            {
                "quantization_config": {
                    "quant_method": "gptq",
                    "bits": 4,
                    "group_size": 128,
                    "desc_act": False,
                    "sym": True,
                }
            },
            4,
            128,
            "gptq",
        ),
        (
            {"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": -1}},
            4,
            None,
            "gptq",
        ),
        (
            {
                "quantization_config": {
                    "quant_method": "awq",
                    "bits": 4,
                    "group_size": 128,
                    "version": "gemm",
                }
            },
            4,
            128,
            "awq",
        ),
        (
            {"quantization_config": {"quant_method": "awq", "w_bit": 4, "q_group_size": 128}},
            4,
            128,
            "awq",
        ),
        ({"quantization_config": {"quant_method": "AWQ", "bits": 4}}, 4, None, "awq"),
        (
            {
                "quantization_config": {
                    "quant_method": "bitsandbytes",
                    "load_in_4bit": True,
                    "load_in_8bit": False,
                    "bnb_4bit_quant_type": "nf4",
                }
            },
            4,
            None,
            "bitsandbytes",
        ),
        (
            {
                "quantization_config": {
                    "quant_method": "bitsandbytes",
                    "load_in_4bit": False,
                    "load_in_8bit": True,
                }
            },
            8,
            None,
            "bitsandbytes",
        ),
        ({"quantization_config": {"_load_in_4bit": True}}, 4, None, "bitsandbytes"),
        ({"quantization_config": {"load_in_8bit": True}}, 8, None, "bitsandbytes"),
        (
            {"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": "yes"}},
            None,
            None,
            "bitsandbytes",
        ),
        (DEEPSEEK_V3, 8, None, "fp8"),
        (
            {
                "quantization_config": {
                    "weight_block_size": [128, 128],
                    "activation_scheme": "dynamic",
                }
            },
            8,
            None,
            "fp8",
        ),
        ({"quantization_config": {"quant_method": "fbgemm_fp8"}}, 8, None, "fbgemm_fp8"),
        (GPT_OSS_20B, 4, None, "mxfp4"),
        ({"quantization_config": {"quant_method": "hqq", "nbits": 4}}, 4, None, "hqq"),
        (
            {
                "quantization_config": {
                    "quant_method": "compressed-tensors",
                    "format": "pack-quantized",
                    "config_groups": {
                        "group_0": {
                            "targets": ["Linear"],
                            "weights": {"num_bits": 4, "type": "int", "group_size": 128},
                        }
                    },
                }
            },
            4,
            128,
            "compressed-tensors",
        ),
        (
            {
                "quantization_config": {
                    "quant_method": "compressed-tensors",
                    "config_groups": {"g": "x"},
                }
            },
            None,
            None,
            "compressed-tensors",
        ),
        (
            {"quantization_config": {"quant_method": "compressed-tensors", "config_groups": []}},
            None,
            None,
            "compressed-tensors",
        ),
        ({"quantization_config": {"quant_method": "eetq"}}, None, None, "eetq"),
        ({"quantization_config": {}}, None, None, None),
        ({"quantization": {}}, None, None, None),
        (
            {
                "quantization": {"bits": "4"},
                "quantization_config": {"quant_method": "gptq", "bits": 4},
            },
            4,
            None,
            "gptq",
        ),
        ({"quantization": {"bits": True, "group_size": False}}, None, None, None),
        ({"quantization": [4, 64]}, None, None, None),
        ({"quantization_config": "4bit"}, None, None, None),
        ({"quantization_config": {"quant_method": 4, "bits": 4}}, 4, None, "mlx"),
        (LLAMA_3_2_1B, None, None, None),
    ],
)
def test_quantization(
    config: dict[str, Any], bits: int | None, group: int | None, method: str | None
) -> None:
    result = ch(config)
    assert (
        result.quantization_bits,
        result.quantization_group_size,
        result.quantization_method,
    ) == (bits, group, method)


# ---- multimodal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        (QWEN2_VL_7B, "vision"),
        (LLAVA_1_5_7B, "vision"),
        (MLLAMA_11B, "vision"),
        (GEMMA3_4B, "vision"),
        (QWEN2_AUDIO, "audio"),
        (GEMMA3N, "vision+audio"),
        ({"vision_config": {}}, "vision"),
        ({"image_token_id": 5}, "vision"),
        ({"image_token_index": 5}, "vision"),
        ({"video_token_id": 5}, "vision"),
        ({"model_type": "qwen2_5_vl"}, "vision"),
        ({"model_type": "kimi_vl"}, "vision"),
        ({"model_type": "Some-VL"}, "vision"),
        ({"model_type": "llava_vision"}, "vision"),
        ({"architectures": ["Qwen2VLForConditionalGeneration"]}, "vision"),
        ({"architectures": ["InternVLChatModel"]}, "vision"),
        ({"architectures": ["SmolVLMForConditionalGeneration"]}, "vision"),
        ({"architectures": ["MllamaVisionModel"]}, "vision"),
        ({"audio_config": {"d_model": 1280}}, "audio"),
        ({"audio_token_id": 7}, "audio"),
        ({"model_type": "qwen2_audio"}, "audio"),
        ({"vision_config": {}, "audio_config": {}}, "vision+audio"),
        # Not multimodal: "vl" inside a longer word, configs that are not mappings, bad ids.
        ({"model_type": "devlin"}, None),
        ({"model_type": "evolve"}, None),
        ({"architectures": ["DevlinForCausalLM", "ParvlekModel"]}, None),
        ({"vision_config": None}, None),
        ({"vision_config": "siglip"}, None),
        ({"audio_config": []}, None),
        ({"image_token_id": None}, None),
        ({"image_token_id": True}, None),
        ({"image_token_id": -1}, None),
        ({"image_token_index": "32000"}, None),
        (LLAMA_3_2_1B, None),
        ({}, None),
    ],
)
def test_multimodal(config: dict[str, Any], kind: str | None) -> None:
    result = ch(config)
    assert result.multimodal_type == kind
    assert result.is_multimodal is (kind is not None)


# ---- use_cache ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, True),
        ({"use_cache": True}, True),
        ({"use_cache": False}, False),
        ({"use_cache": 0}, True),
        ({"use_cache": "false"}, True),
        ({"use_cache": None}, True),
        ({"text_config": {"use_cache": False}}, False),
        ({"use_cache": True, "text_config": {"use_cache": False}}, True),
    ],
)
def test_use_cache(config: dict[str, Any], expected: bool) -> None:
    assert ch(config).use_cache is expected


# ---- robustness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config", [None, [], [{"model_type": "llama"}], "llama", "", 7, 3.5, True, b"{}", object()]
)
def test_non_mapping_input_is_all_unknown(config: object) -> None:
    assert ch(config) == ModelCharacteristics()


def test_empty_config() -> None:
    result = ch({})
    assert result == ModelCharacteristics()
    assert result.badges == []


BAD_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    -4096,
    "4096",
    "",
    [],
    [4096],
    {},
    {"a": 1},
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    10**30,
]


@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_wrongly_typed_sizes_read_as_unknown(value: object) -> None:
    keys = [
        "max_position_embeddings",
        "num_hidden_layers",
        "hidden_size",
        "intermediate_size",
        "vocab_size",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "num_local_experts",
    ]
    result = ch({key: value for key in keys} | {"text_config": {key: value for key in keys}})
    assert result.context_length is None
    assert result.num_hidden_layers is None
    assert result.hidden_size is None
    assert result.intermediate_size is None
    assert result.vocab_size is None
    assert result.num_attention_heads is None
    assert result.num_key_value_heads is None
    assert result.parameter_count is None


def test_integral_floats_are_sizes() -> None:
    assert ch({"max_position_embeddings": 4096.0}).context_length == 4096


@pytest.mark.parametrize("value", [*BAD_VALUES, "x", 1], ids=repr)
def test_garbage_in_structural_fields(value: object) -> None:
    config = {
        "model_type": value,
        "architectures": value,
        "text_config": value,
        "llm_config": value,
        "language_config": value,
        "vision_config": value,
        "audio_config": value,
        "quantization": value,
        "quantization_config": value,
        "use_cache": value,
        "torch_dtype": value,
        "tie_word_embeddings": value,
    }
    result = ch(config)
    assert isinstance(result, ModelCharacteristics)
    assert result.architecture_family == "Unknown"


def test_nested_garbage_inside_text_config() -> None:
    config = {
        "text_config": {
            "model_type": ["llama"],
            "hidden_size": {"x": 1},
            "text_config": {"model_type": "llama"},
        }
    }
    result = ch(config)
    assert result.architecture_family == "Unknown"
    assert result.hidden_size is None


def test_non_string_keys_and_architecture_entries() -> None:
    config: dict[object, object] = {
        1: "x",
        None: 2,
        "architectures": [None, 3, {"a": 1}, "  ", "Qwen2ForCausalLM"],
    }
    result = ch(config)
    assert result.architectures == ["Qwen2ForCausalLM"]
    assert result.architecture_family == "Qwen"


def _random_value(rng: random.Random, depth: int) -> object:
    choice = rng.randrange(12 if depth < 4 else 9)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice(
            [0, -1, 1, 2, 4, 8, 64, 4096, 131072, 2**31, 2**53, 2**53 + 1, 10**40, -(10**40)]
        )
    if choice == 3:
        return rng.randint(-(2**20), 2**20)
    if choice == 4:
        return rng.choice(
            [0.0, -0.0, 1.5, 4096.0, -4096.0, math.nan, math.inf, -math.inf, 1e308, 1e-308]
        )
    if choice == 5:
        return rng.choice(
            [
                "",
                " ",
                "llama",
                "qwen2_vl",
                "VL",
                "fp8",
                "mxfp4",
                "gptq",
                "4096",
                "é",
                "\x00",
                "a" * 300,
            ]
        )
    if choice == 6:
        return rng.choice(_KEYS)
    if choice == 7:
        return [rng.choice(["LlamaForCausalLM", "", "VLModel"]), rng.randint(-3, 3), None]
    if choice == 8:
        return []
    if choice in (9, 10):
        return _random_dict(rng, depth + 1)
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


_KEYS = [
    "model_type", "architectures", "text_config", "llm_config", "language_config", "vision_config",
    "audio_config", "quantization", "quantization_config", "quant_method", "bits", "group_size",
    "load_in_4bit", "load_in_8bit", "_load_in_4bit", "weight_block_size", "config_groups", "weights",
    "num_bits", "w_bit", "q_group_size", "nbits", "max_position_embeddings", "max_sequence_length",
    "seq_length", "n_positions", "n_ctx", "num_hidden_layers", "n_layer", "num_layers", "hidden_size",
    "n_embd", "d_model", "intermediate_size", "n_inner", "vocab_size", "num_attention_heads", "n_head",
    "num_key_value_heads", "head_dim", "num_local_experts", "n_routed_experts", "num_experts",
    "moe_intermediate_size", "n_shared_experts", "shared_expert_intermediate_size",
    "first_k_dense_replace", "image_token_id", "image_token_index", "video_token_id", "audio_token_id",
    "use_cache", "torch_dtype", "dtype", "tie_word_embeddings",
]  # fmt: skip


def _random_dict(rng: random.Random, depth: int) -> dict[str, object]:
    return {rng.choice(_KEYS): _random_value(rng, depth) for _ in range(rng.randrange(12))}


def test_fuzz_never_raises() -> None:
    rng = random.Random(20240611)
    for _ in range(3000):
        config = _random_dict(rng, 0)
        result = extract_characteristics(config)
        assert isinstance(result, ModelCharacteristics)
        assert result.badges == badges(result)
        for value in (
            result.context_length,
            result.hidden_size,
            result.vocab_size,
            result.parameter_count,
        ):
            assert value is None or value > 0
        ModelCharacteristics.model_validate_json(result.model_dump_json())


# ---- parameter estimate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "actual", "tolerance"),
    [
        (LLAMA_3_2_1B, 1_235_814_400, 0.05),
        (LLAMA_3_1_8B, 8_030_261_248, 0.05),
        (QWEN2_5_7B, 7_615_616_512, 0.05),
        (QWEN2_5_0_5B, 494_032_768, 0.05),
        (SMOLLM_135M, 134_515_008, 0.05),
        (MISTRAL_7B, 7_241_732_096, 0.05),
        (MIXTRAL_8X7B, 46_702_792_704, 0.05),
        (QWEN3_30B_A3B, 30_532_122_624, 0.05),
        (GPT_OSS_20B, 20_914_757_184, 0.05),
        (DEEPSEEK_V3, 671_026_419_200, 0.10),
        (QWEN2_VL_7B, 7_615_616_512, 0.05),  # the language model only
        (MLLAMA_11B, 9_775_980_544, 0.15),  # cross-attention layers are not modelled
    ],
)
def test_parameter_estimate_matches_real_models(
    config: dict[str, Any], actual: int, tolerance: float
) -> None:
    estimate = ch(config).parameter_count
    assert estimate is not None
    assert abs(estimate - actual) / actual < tolerance, estimate


def test_parameter_estimate_counts_untied_embeddings_twice() -> None:
    tied = estimate_parameters(LLAMA_3_2_1B | {"tie_word_embeddings": True})
    untied = estimate_parameters(LLAMA_3_2_1B | {"tie_word_embeddings": False})
    absent = estimate_parameters(
        {k: v for k, v in LLAMA_3_2_1B.items() if k != "tie_word_embeddings"}
    )
    assert tied is not None and untied is not None
    assert untied - tied == 128256 * 2048
    assert absent == untied


def test_parameter_estimate_exact_small_shape() -> None:
    config = {
        "hidden_size": 8,
        "num_hidden_layers": 2,
        "vocab_size": 10,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 16,
        "tie_word_embeddings": True,
    }
    # embeddings 80; per layer: q,o 2*8*8, k,v 2*8*4, mlp 3*8*16, norms 2*8; final norm 8.
    per_layer = 128 + 64 + 384 + 16
    assert estimate_parameters(config) == 80 + 2 * per_layer + 8


def test_parameter_estimate_without_heads_or_intermediate() -> None:
    config = {
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "vocab_size": 10,
        "tie_word_embeddings": True,
    }
    # attention 4*h*h, plain MLP 2*h*4h, norms 2h, final norm h.
    assert estimate_parameters(config) == 80 + 256 + 512 + 16 + 8


def test_parameter_estimate_of_moe_with_shared_experts_and_dense_layers() -> None:
    base = {
        "hidden_size": 8,
        "num_hidden_layers": 3,
        "vocab_size": 10,
        "tie_word_embeddings": True,
        "intermediate_size": 16,
    }
    dense = estimate_parameters(base)
    moe = estimate_parameters(
        base
        | {
            "n_routed_experts": 4,
            "moe_intermediate_size": 2,
            "n_shared_experts": 1,
            "first_k_dense_replace": 1,
        }
    )
    assert dense is not None and moe is not None
    dense_mlp, moe_mlp = 3 * 8 * 16, 4 * 3 * 8 * 2 + 3 * 8 * 2 + 8 * 4
    assert moe - dense == 2 * (moe_mlp - dense_mlp)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"hidden_size": 4096, "num_hidden_layers": 32},
        {"hidden_size": 4096, "vocab_size": 32000},
        {"num_hidden_layers": 32, "vocab_size": 32000},
        {"hidden_size": -4096, "num_hidden_layers": 32, "vocab_size": 32000},
        LLAVA_1_5_7B,  # the text config relies on defaults for its shape
        GEMMA3_4B,  # no vocabulary size written
    ],
)
def test_parameter_estimate_needs_the_shape(config: dict[str, Any]) -> None:
    assert ch(config).parameter_count is None


def test_estimate_of_non_mapping_is_none() -> None:
    assert estimate_parameters(None) is None
    assert estimate_parameters([1, 2]) is None


# ---- badges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "badge"),
    [
        (512, "512 ctx"),
        (1000, "1K ctx"),
        (8000, "8K ctx"),
        (1024000, "1M ctx"),
        (1024, "1K ctx"),
        (1536, "1.5K ctx"),
        (2048, "2K ctx"),
        (4096, "4K ctx"),
        (8192, "8K ctx"),
        (32768, "32K ctx"),
        (40960, "40K ctx"),
        (128000, "128K ctx"),
        (131072, "128K ctx"),
        (163840, "160K ctx"),
        (262144, "256K ctx"),
        (1000000, "1M ctx"),
        (1048576, "1M ctx"),
        (1572864, "1.5M ctx"),
        (10485760, "10M ctx"),
    ],
)
def test_context_badge(tokens: int, badge: str) -> None:
    assert context_badge(tokens) == badge


@pytest.mark.parametrize(
    ("parameters", "badge"),
    [
        (999, "999"),
        (999_999, "1M"),
        (3_200_000, "3.2M"),
        (45_000, "45K"),
        (134_515_008, "135M"),
        (360_821_184, "361M"),
        (494_032_768, "0.5B"),
        (1_235_814_400, "1.2B"),
        (7_000_000_000, "7B"),
        (7_615_616_512, "7.6B"),
        (8_030_261_248, "8B"),
        (46_702_792_704, "46.7B"),
        (30_532_110_336, "30.5B"),
        (99_960_000_000, "100B"),
        (671_026_419_200, "671B"),
        (1_000_000_000_000, "1000B"),
    ],
)
def test_size_badge(parameters: int, badge: str) -> None:
    assert size_badge(parameters) == badge


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LLAMA_3_2_1B, ["Llama", "128K ctx", "1.2B"]),
        (
            QWEN2_5_7B | {"quantization": {"group_size": 64, "bits": 4}},
            ["Qwen", "4-bit", "32K ctx", "7.6B"],
        ),
        (QWEN2_VL_7B, ["Qwen", "Vision", "32K ctx", "7.6B"]),
        (QWEN2_5_0_5B, ["Qwen", "32K ctx", "0.5B"]),
        (SMOLLM_135M, ["Llama", "2K ctx", "135M"]),
        (DEEPSEEK_V3, ["DeepSeek", "FP8", "160K ctx", "672B"]),
        (GPT_OSS_20B, ["GPT-OSS", "MXFP4", "128K ctx", "20.9B"]),
        (GEMMA3N, ["Gemma", "Vision", "Audio", "32K ctx"]),
        (QWEN2_AUDIO, ["Qwen", "Audio", "8K ctx"]),
        ({"quantization_config": {"quant_method": "gptq"}}, ["GPTQ"]),
        (
            {"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}},
            ["8-bit"],
        ),
        ({}, []),
    ],
)
def test_badges_from_configs(config: dict[str, Any], expected: list[str]) -> None:
    assert ch(config).badges == expected


def test_badges_tolerate_odd_hand_made_characteristics() -> None:
    odd = ModelCharacteristics(
        architecture_family="",
        context_length=0,
        parameter_count=-5,
        quantization_bits=0,
        is_multimodal=True,
        multimodal_type="smell",
    )
    assert badges(odd) == ["Multimodal"]
    assert badges(ModelCharacteristics(is_multimodal=True)) == ["Multimodal"]
    assert badges(ModelCharacteristics(multimodal_type="audio+vision")) == ["Audio", "Vision"]
