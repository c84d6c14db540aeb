"""Which models compute in float32 on the CPU backend (pure policy)."""

from __future__ import annotations

import pytest

from inference_server.pool.precision import (
    config_dtype,
    estimated_bytes,
    is_quantized,
    upcast_to_float32,
)

GB = 2**30
FP16: dict[str, object] = {"model_type": "llama", "torch_dtype": "float16"}


def decide(config: dict[str, object], **kw: object) -> bool:
    opts: dict[str, object] = {
        "weight_bytes": GB,
        "mode": True,
        "cpu_backend": True,
        "fast_blas": False,
        "budget_bytes": 4 * GB,
    }
    opts.update(kw)
    return upcast_to_float32(config, **opts)  # type: ignore[arg-type]


def test_float16_on_cpu_is_upcast_when_enabled_and_it_fits() -> None:
    assert decide(FP16)


@pytest.mark.parametrize(
    "kw",
    [
        {"mode": False},
        {"mode": False, "fast_blas": True},
        {"mode": "auto"},  # the bundled reference BLAS: batches would be slower
        {"cpu_backend": False},  # Metal / CUDA: half precision is fast there
        {"budget_bytes": 2 * GB - 1},  # the float32 copy would not fit on its own
    ],
)
def test_not_upcast(kw: dict[str, object]) -> None:
    assert not decide(FP16, **kw)


def test_exactly_fitting_copy_is_upcast() -> None:
    assert decide(FP16, budget_bytes=2 * GB)


@pytest.mark.parametrize(
    "config",
    [
        {"torch_dtype": "bfloat16"},  # as fast as float32 with the bundled BLAS
        {"torch_dtype": "float32"},
        {},  # dtype unknown: left alone
        {"torch_dtype": 16},
        {"torch_dtype": "float16", "quantization": {"bits": 4, "group_size": 64}},
        {"torch_dtype": "float16", "quantization_config": {"bits": 4}},
    ],
)
def test_other_models_are_left_alone(config: dict[str, object]) -> None:
    assert not decide(config)


@pytest.mark.parametrize("mode", ["auto", True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_upcast_with_an_optimized_blas(mode: object, dtype: str) -> None:
    assert decide({"torch_dtype": dtype}, mode=mode, fast_blas=True)


@pytest.mark.parametrize(
    "kw",
    [
        {"cpu_backend": False},
        {"budget_bytes": 2 * GB - 1},
        {"weight_bytes": 3 * GB},
    ],
)
def test_optimized_blas_still_needs_the_cpu_and_room(kw: dict[str, object]) -> None:
    assert not decide({"torch_dtype": "bfloat16"}, mode="auto", fast_blas=True, **kw)


def test_optimized_blas_leaves_float32_and_quantized_models() -> None:
    assert not decide({"torch_dtype": "float32"}, mode="auto", fast_blas=True)
    quantized: dict[str, object] = {"torch_dtype": "bfloat16", "quantization": {"bits": 4}}
    assert not decide(quantized, mode="auto", fast_blas=True)


def test_dtype_read_from_either_key_and_from_text_config() -> None:
    assert config_dtype({"dtype": "Float16"}) == "float16"
    assert config_dtype({"text_config": {"torch_dtype": "float16"}}) == "float16"
    assert config_dtype({"torch_dtype": ""}) is None
    assert decide({"text_config": {"torch_dtype": "float16"}})


def test_quantized_forms() -> None:
    assert is_quantized({"quantization": {"bits": 4}})
    assert is_quantized({"quantization_config": {"quant_method": "awq"}})
    assert not is_quantized({"quantization": None})


def test_estimate_doubles_only_when_upcast() -> None:
    assert estimated_bytes(100, upcast=True) == 200
    assert estimated_bytes(100, upcast=False) == 100
