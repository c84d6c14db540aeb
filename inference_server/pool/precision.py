"""Which precision a model computes in. Pure: no I/O, no MLX.

On MLX's CPU backend (``mlx[cpu]`` on Linux) float16 products run on MLX's own kernels, slowly
for one row (``bench/cpu_dtypes.py``), and float32 products go through the BLAS library
(``cpu_blas.py``). With the bundled reference BLAS, float32 is faster than float16 for one row
but its time grows with every row, so batches are slower; bfloat16 is as fast as float32 there.
With an optimized BLAS (OpenBLAS) float32 is the fastest for any number of rows.

``MLX_SERVER_CPU_FLOAT32`` therefore upcasts as a model loads, on the CPU backend only, when
the float32 copy (twice the bytes) fits in the pool's memory budget on its own:
- ``auto`` (default): float16 and bfloat16 models, when an optimized BLAS is loaded;
- ``true``: float16 models always, bfloat16 ones only with an optimized BLAS;
- ``false``: never.
Upcasting is exact (every float16 and bfloat16 value is a float32 value). Quantized models
(packed integer weights) are not touched; GPU backends (Metal, CUDA) never upcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

UPCAST_FACTOR = 2  # float32 bytes per float16 or bfloat16 byte


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
    mode: Literal["auto"] | bool,
    cpu_backend: bool,
    fast_blas: bool,
    budget_bytes: int,
) -> bool:
    """Whether a model should be upcast to float32 as it loads (see the module docstring)."""
    if (
        mode is False
        or not cpu_backend
        or is_quantized(config)
        or weight_bytes * UPCAST_FACTOR > budget_bytes
    ):
        return False
    dtype = config_dtype(config)
    if dtype == "float16":
        return mode is True or fast_blas
    return dtype == "bfloat16" and fast_blas


def estimated_bytes(weight_bytes: int, *, upcast: bool) -> int:
    """Memory to expect before loading: the weight files, doubled when they will be upcast."""
    return weight_bytes * UPCAST_FACTOR if upcast else weight_bytes
