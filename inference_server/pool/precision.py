"""Which precision a model computes in. Pure: no I/O, no MLX.

MLX's CPU backend (``mlx[cpu]`` on Linux) multiplies float16 matrices slowly:
``bench/cpu_dtypes.py`` measures one row times a 768 x 2048 matrix at about 0.3 times the
float16 time in float32 (bfloat16 is as fast). With ``MLX_SERVER_CPU_FLOAT32=true`` a float16
model is therefore upcast to float32 as it loads, on the CPU backend only, when the float32
copy (twice the bytes) fits in the pool's memory budget on its own. A single stream then
decodes two to three times as fast; batches decode slower (float32 goes through the bundled
reference BLAS, whose time grows with the rows: 8 rows take 1.1 to 1.25 times the float16
time), so it is off by default.

bfloat16 models gain nothing from float32 and quantized models (packed integer weights) are
not touched; GPU backends (Metal, CUDA) never upcast.
"""

from __future__ import annotations

from collections.abc import Mapping

UPCAST_DTYPE = "float16"
UPCAST_FACTOR = 2  # float32 bytes per float16 byte


def config_dtype(config: Mapping[str, object]) -> str | None:
    """The weights' dtype as config.json states it (``torch_dtype``, or the newer ``dtype``)."""
    for source in (config, config.get("text_config")):
        if isinstance(source, Mapping):
            for key in ("torch_dtype", "dtype"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    return value.lower()
    return None


def is_quantized(config: Mapping[str, object]) -> bool:
    return isinstance(config.get("quantization"), Mapping) or isinstance(
        config.get("quantization_config"), Mapping
    )


def upcast_to_float32(
    config: Mapping[str, object],
    weight_bytes: int,
    *,
    enabled: bool,
    cpu_backend: bool,
    budget_bytes: int,
) -> bool:
    """Whether a model should be upcast to float32 as it loads.

    Only a config that says float16 qualifies; the loader casts only the float16 arrays.
    """
    return (
        enabled
        and cpu_backend
        and not is_quantized(config)
        and config_dtype(config) == UPCAST_DTYPE
        and weight_bytes * UPCAST_FACTOR <= budget_bytes
    )


def estimated_bytes(weight_bytes: int, *, upcast: bool) -> int:
    """Memory to expect before loading: the weight files, doubled when they will be upcast."""
    return weight_bytes * UPCAST_FACTOR if upcast else weight_bytes
