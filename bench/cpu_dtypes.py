"""MLX matrix products by dtype on this machine: the figures behind MLX_SERVER_CPU_BLAS and
MLX_SERVER_CPU_FLOAT32.

Times ``rows x 768`` by ``768 x 2048`` (one projection of the benchmark model's shape) in
float16, bfloat16 and float32 for 1 and 8 rows, on MLX's default device. Prints one JSON line:
milliseconds per product, and float32's time relative to float16 for each row count (below 1:
float32 is faster). ``--cpu-blas PATH`` loads that CBLAS library before MLX, as the inference
server does (only float32 products use it); the default is the BLAS bundled with MLX.

    python bench/cpu_dtypes.py [--repeats 20] [--cpu-blas PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median
from inference_server.cpu_blas import activate as activate_cpu_blas

ROWS = (1, 8)
DTYPES = ("float16", "bfloat16", "float32")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cpu-blas", default="bundled")
    args = parser.parse_args()
    blas = activate_cpu_blas(args.cpu_blas)
    import mlx.core as mx

    ms: dict[str, dict[str, float]] = {}
    for rows in ROWS:
        for name in DTYPES:
            dtype = getattr(mx, name)
            a = mx.random.normal((rows, 768)).astype(dtype)
            w = mx.random.normal((2048, 768)).astype(dtype)
            mx.eval(a, w)
            for _ in range(3):
                mx.eval(a @ w.T)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                mx.eval(a @ w.T)
                times.append((time.perf_counter() - started) * 1000)
            ms.setdefault(f"{rows}_rows", {})[name] = round(median(times), 3)
    emit(
        {
            "benchmark": "cpu_dtypes",
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
            "device": str(mx.default_device()),
            "cpu_blas": blas.path if blas else "bundled",
            "shape": "rows x 768 @ 768 x 2048",
            "ms": ms,
            "float32_over_float16": {
                key: round(by_dtype["float32"] / by_dtype["float16"], 2)
                for key, by_dtype in ms.items()
            },
        }
    )


if __name__ == "__main__":
    main()
