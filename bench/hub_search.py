"""Hub search through the manager, cold and warm cache, against the raw huggingface_hub call.

A fake Hub on loopback holds ``--families`` x ``--per-family`` repos (each with a config.json,
as MLX repos have). 50 searches of 20 results each (one per family, ``q=fam07``...) go to a
manager subprocess pointed at it: first with an empty cache (cold: each search makes its one
Hub request), then the same 50 again (warm: served from the cache). The raw
``HfApi.list_models`` call the search wraps (same query, same ``expand``, same page size) is
timed against the same Hub in the same run, interleaved with the cold searches. Prints one JSON
line: p50 of each, the cold / raw ratio, and the p50 of ``GET /health`` on the same manager
(the bare cost of one HTTP request to it, which the cold and warm figures include).

The whole experiment runs ``--rounds`` times on the same manager, each round with its own
sort order (downloads, likes, lastModified), so each round's 50 searches are new to the cache.
The figures are p50s over all rounds; the per-round cold / raw ratios are printed too, to show
the spread on a noisy machine.

Targets: warm p50 <= 20 ms; cold p50 <= 1.5 x raw p50.

    python bench/hub_search.py [--searches 50] [--per-family 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from huggingface_hub import HfApi

from bench._common import Storage, emit, percentile
from manager.hub.search import SEARCH_EXPAND
from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import manager_service, running

LIMIT = 20
#: One sort order a round: each round's searches are new to the manager's cache.
ROUND_SORTS = ("downloads", "likes", "lastModified")


def build_hub(families: int, per_family: int) -> FakeHub:
    hub = FakeHub()
    for f in range(families):
        for i in range(per_family):
            config = {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 2048,
                "num_hidden_layers": 16,
                "vocab_size": 32000,
                "max_position_embeddings": 8192,
                "quantization": {"bits": 4, "group_size": 64},
            }
            hub.add_repo(
                f"org{i % 7}/fam{f:02d}-model-{i:02d}-4bit",
                {"config.json": json.dumps(config).encode(), "README.md": b"# model\n"},
                library_name="mlx",
                tags=["mlx"],
                pipeline_tag="text-generation",
                downloads=(f * 31 + i * 17) % 1000,
                likes=i,
            )
    return hub


def timed_ms(call: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--per-family", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, len(ROUND_SORTS) + 1))
    args = parser.parse_args()
    queries = [f"fam{f:02d}" for f in range(args.searches)]
    hub = build_hub(args.searches + 1, args.per_family)
    warmup_query = f"fam{args.searches:02d}"
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp, hub.serve() as hub_url:
        root = Path(tmp)
        manager = manager_service(
            {
                **Storage.under(root).env(),
                "MODEL_MANAGER_HF_ENDPOINT": hub_url,
                "MODEL_MANAGER_HUB_CACHE_TTL_S": "3600",
                "MODEL_MANAGER_LOG_LEVEL": "WARNING",
                "HF_HUB_DISABLE_XET": "1",
            },
            log_dir=root,
        )
        api = HfApi(endpoint=hub_url, token=False)

        def raw(q: str, sort: str) -> None:
            expand = list(SEARCH_EXPAND)
            found = list(api.list_models(search=q, limit=LIMIT, sort=sort, expand=expand))  # type: ignore[arg-type]
            assert len(found) == LIMIT, len(found)

        with running(manager), httpx.Client(base_url=manager.url, timeout=30) as client:

            def search(q: str, sort: str) -> None:
                r = client.get("/api/hub/search", params={"q": q, "limit": LIMIT, "sort": sort})
                r.raise_for_status()
                assert len(r.json()["results"]) == LIMIT

            # Warm up both paths (connections, first-request costs) on a query not measured.
            for _ in range(3):
                raw(warmup_query, "downloads")
            search(warmup_query, "trending")
            raw_ms: list[float] = []
            cold_ms: list[float] = []
            warm_ms: list[float] = []
            round_ratios: list[float] = []
            for sort in ROUND_SORTS[: args.rounds]:
                round_raw: list[float] = []
                round_cold: list[float] = []
                for q in queries:  # interleaved, so drift on the machine hits both alike
                    round_raw.append(timed_ms(raw, q, sort))
                    round_cold.append(timed_ms(search, q, sort))
                warm_ms += [timed_ms(search, q, sort) for q in queries]
                round_ratios.append(
                    round(percentile(round_cold, 50) / percentile(round_raw, 50), 3)
                )
                raw_ms += round_raw
                cold_ms += round_cold
            # The bare cost of one request to the manager, for reading the figures above.
            hop_ms = [timed_ms(lambda: client.get("/health")) for _ in queries]
            hub_calls = len([c for c in hub.stats.api("/api/models") if c.path == "/api/models"])

    raw_p50, cold_p50, warm_p50 = (percentile(v, 50) for v in (raw_ms, cold_ms, warm_ms))
    emit(
        {
            "benchmark": "hub_search",
            "searches": len(queries),
            "rounds": len(round_ratios),
            "cold_vs_raw_ratio_by_round": round_ratios,
            "results_per_search": LIMIT,
            "hub_repos": len(hub.repos),
            "raw_list_models_p50_ms": round(raw_p50, 2),
            "cold_p50_ms": round(cold_p50, 2),
            "cold_p99_ms": round(percentile(cold_ms, 99), 2),
            "warm_p50_ms": round(warm_p50, 2),
            "warm_p99_ms": round(percentile(warm_ms, 99), 2),
            "cold_vs_raw_ratio": round(cold_p50 / raw_p50, 3),
            "manager_health_p50_ms": round(percentile(hop_ms, 50), 2),
            "hub_list_requests": hub_calls,
            "targets": {"warm_p50_ms": 20.0, "cold_vs_raw_ratio": 1.5},
        }
    )


if __name__ == "__main__":
    main()
