"""Proxy overhead: the same requests straight to the inference server and through the manager.

200 sequential non-streaming chat completions with ``max_tokens=1`` and 20 streamed requests
of 64 tokens, on the tiny model, both paths in one run. Prints one JSON line: p50/p99 latency
of each path, the added p50 (ms), and the streamed tokens/s ratio (manager / direct). The
paths take turns, request by request (the order alternating), so drift on the machine hits
them alike.

The streams also take a third path, ``bench/byte_relay.py``: a process that copies bytes
between the sockets and does nothing else. Its ratio (``floor_stream_tps_ratio``) is what any
proxy in the manager's place costs on this machine in this run, before it does any work of its
own.

With ``--baseline-tree DIR`` a second manager runs from another source tree (e.g. ``git
archive main manager shared_schemas | tar -x -C DIR``) beside this one, on the same inference
server, and the line adds the median difference over pairs of back-to-back one-token
requests, this manager minus that one (``vs_baseline_paired_ms``): a change's cost to the
proxy, measured in one run.

    python bench/proxy_overhead.py [--requests 200] [--streams 20] [--baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Storage,
    emit,
    median,
    paired_difference_ms,
    percentile,
    require_shared_storage,
    stream_chat,
)
from modelyard_dev.procs import free_port, inference_service, manager_service, running
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


async def stream_rates(bases: dict[str, str], n: int) -> dict[str, float]:
    """Median tokens/s of ``n`` streams on each path, the paths taking turns."""
    rates: dict[str, list[float]] = {name: [] for name in bases}
    clients = {name: httpx.AsyncClient(base_url=base, timeout=120) for name, base in bases.items()}
    try:
        for client in clients.values():  # warm every connection
            await stream_chat(client, "/v1/chat/completions", body(8))
        for i in range(n):
            names = list(clients) if i % 2 == 0 else list(reversed(clients))
            for name in names:
                r = await stream_chat(clients[name], "/v1/chat/completions", body(64))
                rates[name].append(r.tokens / (r.ended - r.started))
    finally:
        for client in clients.values():
            await client.aclose()
    return {name: median(values) for name, values in rates.items()}


@contextlib.contextmanager
def byte_relay(upstream_port: int) -> Iterator[str]:
    port = free_port()
    relay = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("byte_relay.py")),
            str(port),
            str(upstream_port),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline or relay.poll() is not None:
                raise RuntimeError("the byte relay did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        relay.kill()
        relay.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--cpu-blas", default="auto", help="MLX_SERVER_CPU_BLAS for the server")
    parser.add_argument("--baseline-tree", type=Path, help="another source tree's manager")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        write_model(storage.models / "tiny", TINY)
        inference = inference_service(
            {**storage.env(), "MLX_SERVER_CPU_BLAS": args.cpu_blas}, log_dir=root
        )
        manager = manager_service(
            {**storage.env(), "MODEL_MANAGER_INFERENCE_URL": inference.url}, log_dir=root
        )
        baseline = manager_service(
            {
                **storage.env(),
                "MODEL_MANAGER_INFERENCE_URL": inference.url,
                "MODEL_MANAGER_DATA_DIR": str(root / "baseline"),  # its own database
            },
            log_dir=root,
        )
        baseline.cwd = args.baseline_tree
        extra = (baseline,) if args.baseline_tree else ()
        with running(inference, manager, *extra):
            require_shared_storage(manager.url)
            # Interleave the two paths so drift on the machine hits both alike.
            direct: list[float] = []
            proxied: list[float] = []
            for _ in range(4):
                direct += latencies(inference.url, args.requests // 4)
                proxied += latencies(manager.url, args.requests // 4)
            with byte_relay(inference.port) as relay_url:
                bases = {"direct": inference.url, "manager": manager.url, "relay": relay_url}
                rates = asyncio.run(stream_rates(bases, args.streams))
            pool = httpx.get(f"{inference.url}/admin/pool", timeout=10).json()
            versus = {}
            if args.baseline_tree:
                versus["vs_baseline_paired_ms"] = paired_difference_ms(
                    baseline.url, manager.url, body(1), args.requests
                )
    direct_rate, proxied_rate = rates["direct"], rates["manager"]
    emit(
        {
            "benchmark": "proxy_overhead",
            "requests": len(direct),
            "cpu_blas": pool["cpu_blas"] or "bundled",
            "compute_dtype": pool["slots"][0]["compute_dtype"],
            "direct_p50_ms": percentile(direct, 50),
            "direct_p99_ms": percentile(direct, 99),
            "manager_p50_ms": percentile(proxied, 50),
            "manager_p99_ms": percentile(proxied, 99),
            "added_p50_ms": percentile(proxied, 50) - percentile(direct, 50),
            "direct_stream_tps": direct_rate,
            "manager_stream_tps": proxied_rate,
            "stream_tps_ratio": proxied_rate / direct_rate,
            "floor_stream_tps_ratio": rates["relay"] / direct_rate,
            "targets": {"added_p50_ms": 2.0, "stream_tps_ratio": 0.97},
            **versus,
        }
    )


if __name__ == "__main__":
    main()
