"""Quantization levels from names: real file and repository names from the Hub."""

from __future__ import annotations

import pytest

from manager.hub.quant import parse_gguf_quant, parse_mlx_quant, parse_quant, quant_from_config
from manager.hub.schemas import QuantLevel

GGUF_NAMES = [
    ("llama-2-7b.Q4_K_M.gguf", "Q4_K_M", 4),
    ("qwen2.5-7b-instruct-q4_k_m.gguf", "Q4_K_M", 4),
    ("qwen2.5-7b-instruct-q5_k_m-00001-of-00002.gguf", "Q5_K_M", 5),
    ("Meta-Llama-3.1-8B-Instruct-Q8_0.gguf", "Q8_0", 8),
    ("Meta-Llama-3.1-8B-Instruct-Q6_K_L.gguf", "Q6_K_L", 6),
    ("Meta-Llama-3.1-8B-Instruct-Q6_K.gguf", "Q6_K", 6),
    ("Meta-Llama-3.1-8B-Instruct-Q3_K_XL.gguf", "Q3_K_XL", 3),
    ("Meta-Llama-3.1-8B-Instruct-Q2_K.gguf", "Q2_K", 2),
    ("Meta-Llama-3.1-8B-Instruct-Q4_K_S.gguf", "Q4_K_S", 4),
    ("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", "IQ4_XS", 4),
    ("Meta-Llama-3.1-8B-Instruct-IQ4_NL.gguf", "IQ4_NL", 4),
    ("Meta-Llama-3.1-8B-Instruct-IQ3_M.gguf", "IQ3_M", 3),
    ("Meta-Llama-3.1-8B-Instruct-IQ3_XXS.gguf", "IQ3_XXS", 3),
    ("Meta-Llama-3.1-8B-Instruct-IQ2_XS.gguf", "IQ2_XS", 2),
    ("Meta-Llama-3.1-8B-Instruct-IQ2_S.gguf", "IQ2_S", 2),
    ("Meta-Llama-3.1-8B-Instruct-IQ1_M.gguf", "IQ1_M", 1),
    ("mistral-7b-instruct-v0.2.Q4_0.gguf", "Q4_0", 4),
    ("mistral-7b-instruct-v0.2.Q5_1.gguf", "Q5_1", 5),
    ("Phi-3-mini-4k-instruct-Q4_0_4_4.gguf", "Q4_0_4_4", 4),
    ("Phi-3-mini-4k-instruct-Q4_0_8_8.gguf", "Q4_0_8_8", 4),
    ("bitnet-b1.58-TQ1_0.gguf", "TQ1_0", 1),
    ("Qwen3-8B-BF16.gguf", "BF16", 16),
    ("qwen3-8b-f16.gguf", "F16", 16),
    ("tinyllama-f32.gguf", "F32", 32),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4", 4),
    ("gpt-oss-120b-mxfp4_moe.gguf", "MXFP4_MOE", 4),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL", 4),
    ("Qwen3-30B-A3B-ud-iq2_xxs.gguf", "UD-IQ2_XXS", 2),
    ("Q4_K_M/Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "Q4_K_M", 4),
    ("BF16/Qwen3-235B-Q8_0-00003-of-00005.gguf", "Q8_0", 8),  # the last token wins
]


@pytest.mark.parametrize(("name", "label", "bits"), GGUF_NAMES)
def test_gguf_quant(name: str, label: str, bits: int) -> None:
    quant = parse_gguf_quant(name)
    assert quant is not None
    assert (quant.label, quant.bits) == (label, bits)
    assert parse_quant(name) == quant


MLX_NAMES = [
    ("Qwen2.5-7B-Instruct-4bit", "4bit", 4),
    ("Llama-3.2-3B-Instruct-8bit", "8bit", 8),
    ("Mistral-7B-Instruct-v0.3-4-bit", "4bit", 4),
    ("phi-2-hf-4bit-mlx", "4bit", 4),
    ("DeepSeek-R1-3bit", "3bit", 3),
    ("Qwen3-235B-A22B-6bit", "6bit", 6),
    ("Qwen3-0.6B-2bit", "2bit", 2),
    ("Llama-3.2-1B-Instruct-8bits", "8bit", 8),
    ("Qwen3-30B-A3B-4bit-DWQ", "4bit-DWQ", 4),
    ("Qwen3-14B-4bit-dwq-053125", "4bit-DWQ", 4),
    ("Qwen2.5-7B-Instruct-4bit-AWQ", "4bit-AWQ", 4),
    ("gemma-3-27b-it-qat-4bit", "4bit", 4),
    ("Mistral-7B-Instruct-v0.3-bf16", "bf16", 16),
    ("Llama-3.2-1B-Instruct-fp16", "fp16", 16),
    ("Llama-3.2-1B-Instruct-f16", "fp16", 16),
    ("Llama-3.2-1B-Instruct-float16", "fp16", 16),
    ("Llama-3.2-1B-Instruct-fp32", "fp32", 32),
    ("Qwen3-8B-FP8", "fp8", 8),
    ("gpt-oss-20b-MXFP4-Q8", "mxfp4", 4),
    ("Qwen3-8B-nvfp4", "nvfp4", 4),
    ("Qwen2.5-7B-Instruct-GPTQ-Int4", "int4", 4),
    ("Qwen2.5-7B-Instruct-GPTQ-Int8", "int8", 8),
    ("DeepSeek-V3-mixed_3_6", "mixed-3-6", None),
    ("DeepSeek-V3-mixed-6-3bit", "mixed-3-6", None),
    ("Llama-3-8B-bf16-4bit", "4bit", 4),  # the last token wins
]


@pytest.mark.parametrize(("name", "label", "bits"), MLX_NAMES)
def test_mlx_quant(name: str, label: str, bits: int | None) -> None:
    quant = parse_mlx_quant(name)
    assert quant is not None
    assert (quant.label, quant.bits) == (label, bits)
    assert parse_quant(name) == quant


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Qwen2.5-7B-Instruct",
        "Qwen2-VL-7B",
        "Phi-3-mini-4k-instruct",
        "Phi-3-mini-128k-instruct",
        "Mixtral-8x7B-Instruct-v0.1",
        "Llama-2-7b-hf",
        "gpt-oss-20b",
        "Qwen3-30B-A3B",
        "bert-base-uncased",
        "Q4",
        "Q4_K_MMM",
        "model-q4km.gguf",
        "my4bitmodel",
        "Qwen2.5-Q9_0",
        "llama-12bit",
        "IQ5_XS",
        "tokenizer.json",
        "config.json",
    ],
)
def test_names_without_a_quant(name: str) -> None:
    assert parse_quant(name) is None


def label(quant: QuantLevel | None) -> str | None:
    return quant.label if quant is not None else None


def test_gguf_spelling_first_for_gguf_names_mlx_first_otherwise() -> None:
    assert label(parse_quant("Qwen2.5-7B-Instruct-GGUF/qwen2.5-7b-instruct-bf16.gguf")) == "BF16"
    assert label(parse_quant("Mistral-7B-Instruct-v0.3-bf16")) == "bf16"
    assert label(parse_quant("Mistral-7B-Q4_K_M")) == "Q4_K_M"  # no MLX token: GGUF's
    assert parse_gguf_quant("Qwen2.5-7B-Instruct-4bit") is None
    assert parse_mlx_quant("model-Q4_K_M.gguf") is None


def test_separators_bound_tokens() -> None:
    for name in ("a Q4_K_M b", "a.Q4_K_M.b", "a/Q4_K_M/b", "a_Q4_K_M-b", "Q4_K_M"):
        assert label(parse_gguf_quant(name)) == "Q4_K_M", name
    assert parse_gguf_quant("aQ4_K_M") is None
    assert parse_gguf_quant("Q4_K_M_v2") is None
    assert parse_mlx_quant("x4bit") is None
    assert parse_mlx_quant("4bitx") is None


@pytest.mark.parametrize(
    ("config", "label"),
    [
        ({"quantization": {"bits": 4, "group_size": 64}}, "4bit"),
        ({"quantization_config": {"bits": 8}}, "8bit"),
        ({"quantization": {"bits": True}}, None),
        ({"quantization": {"bits": 0}}, None),
        ({"quantization": {"bits": 99}}, None),
        ({"quantization": {"bits": "4"}}, None),
        ({"quantization": [4]}, None),
        ({"model_type": "llama"}, None),
        ({}, None),
        (None, None),
        ([1, 2], None),
    ],
)
def test_quant_from_config(config: object, label: str | None) -> None:
    quant = quant_from_config(config)
    assert (quant.label if quant else None) == label
