"""Proxy overhead: the same requests straight to the inference server and through the manager.

200 sequential non-streaming chat completions with ``max_tokens=1`` and 20 streamed requests
of 64 tokens, on the tiny model, both paths in one run. Prints one JSON line: p50/p99 latency
of each path, the added p50 (ms), and the streamed tokens/s ratio (manager / direct). The two
paths take turns, request by request, so drift on the machine hits both alike.

    python bench/proxy_overhead.py [--requests 200] [--streams 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median, percentile, stream_chat
from modelyard_dev.procs import inference_service, manager_service, running
from modelyard_dev.tiny_model import TINY, write_model

MODEL = "local/tiny"


def body(tokens: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": tokens,
        "temperature": 0.0,
    }


def latencies(base: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(5):
            client.post("/v1/chat/completions", json=body(1)).raise_for_status()
        for _ in range(n):
            started = time.perf_counter()
            client.post("/v1/chat/completions", json=body(1)).raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
    return out


async def stream_rates(direct_base: str, manager_base: str, n: int) -> tuple[float, float]:
    """Median tokens/s of ``n`` streams on each path, the two paths taking turns."""
    rates: dict[str, list[float]] = {direct_base: [], manager_base: []}
    async with (
        httpx.AsyncClient(base_url=direct_base, timeout=120) as direct,
        httpx.AsyncClient(base_url=manager_base, timeout=120) as proxied,
    ):
        for client in (direct, proxied):  # warm both connections
            await stream_chat(client, "/v1/chat/completions", body(8))
        for _ in range(n):
            for base, client in ((direct_base, direct), (manager_base, proxied)):
                r = await stream_chat(client, "/v1/chat/completions", body(64))
                rates[base].append(r.tokens / (r.ended - r.started))
    return median(rates[direct_base]), median(rates[manager_base])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--streams", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        write_model(root / "models" / "tiny", TINY)
        inference = inference_service(
            {
                "MLX_SERVER_MODELS_DIRS": str(root / "models"),
                "MLX_SERVER_HF_CACHE_DIR": str(root / "hf"),
            },
            log_dir=root,
        )
        manager = manager_service(
            {
                "MODEL_MANAGER_INFERENCE_URL": inference.url,
                "MODEL_MANAGER_DATA_DIR": str(root / "data"),
            },
            log_dir=root,
        )
        with running(inference, manager):
            # Interleave the two paths so drift on the machine hits both alike.
            direct: list[float] = []
            proxied: list[float] = []
            for _ in range(4):
                direct += latencies(inference.url, args.requests // 4)
                proxied += latencies(manager.url, args.requests // 4)
            direct_rate, proxied_rate = asyncio.run(
                stream_rates(inference.url, manager.url, args.streams)
            )
    emit(
        {
            "benchmark": "proxy_overhead",
            "requests": len(direct),
            "direct_p50_ms": percentile(direct, 50),
            "direct_p99_ms": percentile(direct, 99),
            "manager_p50_ms": percentile(proxied, 50),
            "manager_p99_ms": percentile(proxied, 99),
            "added_p50_ms": percentile(proxied, 50) - percentile(direct, 50),
            "direct_stream_tps": direct_rate,
            "manager_stream_tps": proxied_rate,
            "stream_tps_ratio": proxied_rate / direct_rate,
            "targets": {"added_p50_ms": 2.0, "stream_tps_ratio": 0.97},
        }
    )


if __name__ == "__main__":
    main()
