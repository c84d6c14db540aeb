"""/health latency while a model loads, against the same server idle.

Makes a ~650 MB random-weight model (the tiny-model tool's ``large`` shape), starts the
inference server, measures ``GET /health`` latency idle, then again while the model loads
(``POST /admin/models/local/large/load`` in flight). Prints one JSON line with p50/p99 of both
and the p99 ratio (loading / idle).

    python bench/health_during_load.py [--probes 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Storage, emit, median, percentile
from modelyard_dev.procs import inference_service, running
from modelyard_dev.tiny_model import preset, write_model


def probe(client: httpx.Client) -> float:
    started = time.perf_counter()
    client.get("/health").raise_for_status()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        write_model(storage.models / "large", preset("large"))
        server = inference_service(storage.env(), log_dir=root)
        with running(server), httpx.Client(base_url=server.url, timeout=30) as client:
            idle = [probe(client) for _ in range(args.probes)]
            done = threading.Event()
            load: dict[str, float] = {}

            def do_load() -> None:
                started = time.perf_counter()
                httpx.post(f"{server.url}/admin/models/local/large/load", timeout=600)
                load["wall_s"] = time.perf_counter() - started
                done.set()

            thread = threading.Thread(target=do_load)
            thread.start()
            loading: list[float] = []
            while not done.is_set():
                loading.append(probe(client))
                time.sleep(0.005)
            thread.join()
    emit(
        {
            "benchmark": "health_during_load",
            "load_wall_s": round(load["wall_s"], 3),
            "idle_p50_ms": round(median(idle), 3),
            "idle_p99_ms": round(percentile(idle, 99), 3),
            "loading_probes": len(loading),
            "loading_p50_ms": round(median(loading), 3),
            "loading_p99_ms": round(percentile(loading, 99), 3),
            "loading_max_ms": round(max(loading), 3) if loading else None,
            "p99_ratio_loading_vs_idle": round(percentile(loading, 99) / percentile(idle, 99), 2),
        }
    )


if __name__ == "__main__":
    main()
