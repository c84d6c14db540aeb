"""Scaling past one machine, measured on one: several inference servers and several managers.

Three parts, all on loopback, each printed in the one JSON line:

- ``throughput``: two inference servers, each with its own tiny model loaded, behind one
  manager (``MODEL_MANAGER_INFERENCE_URLS``), against one server holding both models behind
  another manager; 8 concurrent streams per model (16 in all), aggregate tokens/s, the two
  setups taking turns round by round. On one machine both setups share the same cores, so
  the ratio stays near 1; on two hosts it is what the design buys.
- ``routing``: p50 of ``max_tokens=1`` requests through a manager with one server against a
  manager routing among two (the model on the same server for both), and straight to that
  server, the three taking turns in small blocks; the difference between the managers is what
  routing adds (target: at most +0.5 ms); also the median difference over pairs of
  back-to-back requests, which the machine's drift disturbs least.
- ``downloads``: two manager processes on one PostgreSQL database (a server started in a
  temporary folder) and one cache folder; 20 models asked of both managers at once; every
  file must be fetched from the fake Hub exactly once. Also: how long a progress event of a
  job run by one manager takes to reach a subscriber of the other (the relay polls the job
  rows at the progress interval).

    python bench/scale.py [--only throughput,routing,downloads] [--rounds 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median, paired_difference_ms, percentile, stream_chat
from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.postgres import postgres_server
from modelyard_dev.procs import Service, inference_service, manager_service, running
from modelyard_dev.tiny_model import TINY, write_model

A, B = "local/tiny-a", "local/tiny-b"
STREAMS_PER_MODEL = 8


def chat_body(model: str, tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": tokens,
        "temperature": 0.0,
    }


async def aggregate_tps(base: str, tokens: int) -> float:
    """Tokens/s of 8 concurrent streams per model, all at once."""
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for model in (A, B):  # warm
            await stream_chat(client, "/v1/chat/completions", chat_body(model, 4))
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                stream_chat(client, "/v1/chat/completions", chat_body(model, tokens))
                for model in (A, B)
                for _ in range(STREAMS_PER_MODEL)
            )
        )
        wall = time.perf_counter() - started
    return sum(r.tokens for r in results) / wall


def latencies(base: str, model: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(2):
            client.post("/v1/chat/completions", json=chat_body(model, 1)).raise_for_status()
        for _ in range(n):
            started = time.perf_counter()
            client.post("/v1/chat/completions", json=chat_body(model, 1)).raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
    return out


def routing_decision_us(base: str) -> float:
    """CPU time of what routing adds per request, in this process: reading the body's model
    field and choosing among the two servers with the views the manager holds (their pools
    as the routed manager last fetched them)."""
    from manager.fleet.fleet import Fleet
    from manager.proxy.forward import model_of
    from manager.settings import ManagerSettings
    from shared_schemas.openai import ModelList
    from shared_schemas.pool import PoolStatus

    hosts = httpx.get(f"{base}/api/inference/pool", timeout=10).json()["hosts"]
    settings = ManagerSettings(inference_urls=",".join(h["url"] for h in hosts))
    fleet = Fleet(settings, settings.fleet_hosts)
    for host, seen in zip(fleet.hosts, hosts, strict=True):
        listed = ModelList.model_validate(httpx.get(f"{host.url}/v1/models", timeout=10).json())
        host.learned(PoolStatus.model_validate(seen["pool"]), frozenset(c.id for c in listed.data))
    body = json.dumps(chat_body(A, 1)).encode()
    rounds = []
    for _ in range(20):
        started = time.perf_counter()
        for _ in range(1000):
            fleet.route(model_of(body))
        rounds.append((time.perf_counter() - started) * 1000)  # ms per 1000 = us each
    return median(rounds)


def inference(models: Path, root: Path, preload: str) -> Service:
    return inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models),
            "MLX_SERVER_HF_CACHE_DIR": str(root / "hf"),
            "MLX_SERVER_PRELOAD_MODELS": preload,
            "MLX_SERVER_LOG_LEVEL": "WARNING",
        },
        log_dir=root,
    )


def manager(root: Path, name: str, **env: str) -> Service:
    return manager_service(
        {
            "MODEL_MANAGER_DATA_DIR": str(root / name),
            "MODEL_MANAGER_HF_CACHE_DIR": str(root / "hf"),
            "MODEL_MANAGER_MODELS_DIR": str(root / "models"),
            "MODEL_MANAGER_LOG_LEVEL": "WARNING",
            **env,
        },
        log_dir=root,
    )


def serving(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    models = root / "models"
    write_model(models / "tiny-a", TINY, seed=0)
    write_model(models / "tiny-b", TINY, seed=1)
    x, y, both = (inference(models, root, p) for p in (A, B, f"{A},{B}"))
    one = manager(root, "one", MODEL_MANAGER_INFERENCE_URL=x.url)
    routed = manager(root, "routed", MODEL_MANAGER_INFERENCE_URLS=f"{x.url},{y.url}")
    single = manager(root, "single", MODEL_MANAGER_INFERENCE_URL=both.url)
    out: dict[str, Any] = {}
    with running(x, y, both, one, routed, single):
        if "throughput" in args.only:
            two_servers: list[float] = []
            one_server: list[float] = []
            for index in range(args.rounds):
                order = [(routed, two_servers), (single, one_server)]
                for service, rates in order if index % 2 == 0 else order[::-1]:
                    rates.append(asyncio.run(aggregate_tps(service.url, args.tokens)))
            out["throughput"] = {
                "two_servers_tps": median(two_servers),
                "one_server_tps": median(one_server),
                "ratio": median(two_servers) / median(one_server),
                "round_ratios": [t / o for t, o in zip(two_servers, one_server, strict=True)],
                "streams": 2 * STREAMS_PER_MODEL,
                "tokens_per_stream": args.tokens,
            }
        if "routing" in args.only:
            direct: list[float] = []
            via_one: list[float] = []
            via_routed: list[float] = []
            blocks = 10
            for block in range(blocks):  # small blocks, alternating order: drift hits all
                paths = [(x.url, direct), (one.url, via_one), (routed.url, via_routed)]
                for base, into in paths if block % 2 == 0 else paths[::-1]:
                    into += latencies(base, A, args.requests // blocks)
            out["routing"] = {
                "direct_p50_ms": median(direct),
                "one_server_p50_ms": median(via_one),
                "routed_p50_ms": median(via_routed),
                "routed_p99_ms": percentile(via_routed, 99),
                "added_p50_ms": median(via_routed) - median(via_one),
                "added_paired_median_ms": paired_difference_ms(
                    one.url, routed.url, chat_body(A, 1), args.requests
                ),
                "requests": len(via_routed),
                "decision_us": routing_decision_us(routed.url),
            }
    return out


# ---- downloads on two managers -----------------------------------------------------------------


async def submit_everywhere(urls: list[str], repos: list[str]) -> list[str]:
    async with httpx.AsyncClient(timeout=120) as client:
        answers = await asyncio.gather(
            *(
                client.post(f"{url}/api/downloads", json={"model_id": repo, "force": True})
                for repo in repos
                for url in urls
            )
        )
    for answer in answers:
        answer.raise_for_status()
    return sorted({answer.json()["id"] for answer in answers})


async def wait_all(url: str, ids: list[str], within: float = 600) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while True:
            jobs = [(await client.get(f"/api/downloads/{i}")).json() for i in ids]
            if all(j["status"] in ("completed", "failed", "cancelled") for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                raise TimeoutError([j["status"] for j in jobs])
            await asyncio.sleep(0.25)


async def event_times(url: str, job_id: str, until: int, into: dict[int, float]) -> None:
    """Arrival time of each progress event of one job, by bytes done, until ``until``."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=None) as client,
        client.stream("GET", f"/api/downloads/{job_id}/events") as stream,
    ):
        async for line in stream.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            job = event.get("job")
            if job is None:
                continue
            into.setdefault(job["bytes_done"], time.perf_counter())
            if job["status"] in ("completed", "failed") or job["bytes_done"] >= until:
                return


async def relay_delay(holder: str, other: str, hub: FakeHub, repo: str) -> dict[str, Any]:
    """Delay between a progress event on the manager running a job and the same event
    (same bytes done) on the other manager."""
    size = 24 * 1024 * 1024
    hub.add_big_file(repo, "model.safetensors", size, seed=99)
    hub.set_fault(path_glob=f"{repo}/*", throttle_bps=8_000_000)
    async with httpx.AsyncClient(base_url=holder, timeout=60) as client:
        answer = await client.post("/api/downloads", json={"model_id": repo, "force": True})
    job_id = answer.json()["id"]
    local: dict[int, float] = {}
    relayed: dict[int, float] = {}
    await asyncio.gather(
        event_times(holder, job_id, size, local), event_times(other, job_id, size, relayed)
    )
    hub.reset_faults()
    delays = [(relayed[k] - local[k]) * 1000 for k in relayed if k in local and 0 < k < size]
    return {
        "event_relay_delay_p50_ms": median(delays),
        "event_relay_delay_p99_ms": percentile(delays, 99),
        "events_matched": len(delays),
        "events_on_holder": len(local),
    }


def downloads(root: Path, n: int) -> dict[str, Any]:
    hub = FakeHub()
    repos = [f"bench/model-{i:02d}" for i in range(n)]
    for index, repo in enumerate(repos):
        hub.add_tiny_model(repo, seed=100 + index)
        hub.add_big_file(repo, "extra.safetensors", 2 * 1024 * 1024, seed=index)
    running_hub = hub.serve_in_thread()
    try:
        with postgres_server() as pg:
            url = pg.url(pg.create_database("scale"))
            managers = [
                manager(
                    root,
                    name,
                    MODEL_MANAGER_DATABASE_URL=url,
                    MODEL_MANAGER_HF_ENDPOINT=running_hub.url,
                    MODEL_MANAGER_DISK_RESERVE_GB="0",
                    MODEL_MANAGER_INFERENCE_URL="http://127.0.0.1:9",
                )
                for name in ("manager-a", "manager-b")
            ]
            with running(*managers):
                urls = [m.url for m in managers]
                started = time.perf_counter()
                ids = asyncio.run(submit_everywhere(urls, repos))
                jobs = asyncio.run(wait_all(urls[0], ids))
                wall = time.perf_counter() - started
                stats = hub.stats
                fetched = {
                    f"{repo}/{path}": stats.file(repo, path)
                    for repo in repos
                    for path in hub.repo(repo).resolve("main").files  # type: ignore[union-attr]
                    if path != "config.json"  # also read by each request's compatibility check
                }
                sizes = {
                    f"{repo}/{path}": file.size
                    for repo in repos
                    for path, file in hub.repo(repo).resolve("main").files.items()  # type: ignore[union-attr]
                }
                relay = asyncio.run(relay_delay(urls[0], urls[1], hub, "bench/relayed"))
    finally:
        running_hub.stop()
    return {
        "models": n,
        "requests": 2 * n,
        "jobs": len(ids),
        "completed": sum(1 for j in jobs if j["status"] == "completed"),
        "files": len(fetched),
        "files_fetched_once": all(s.get == 1 for s in fetched.values()),
        "max_gets_per_file": max(s.get for s in fetched.values()),
        "bytes_sent_over_size": sum(s.bytes_sent for s in fetched.values())
        / sum(sizes[k] for k in fetched),
        "wall_s": wall,
        **relay,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="throughput,routing,downloads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--models", type=int, default=20)
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    result: dict[str, Any] = {"benchmark": "scale"}
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        if args.only & {"throughput", "routing"}:
            result.update(serving(args, root))
        if "downloads" in args.only:
            result["downloads"] = downloads(root, args.models)
    result["targets"] = {
        "routing_added_p50_ms": 0.5,
        "files_fetched_once": True,
        "throughput_ratio_two_hosts": "> 1 (near 1 on one machine)",
    }
    emit(result)


if __name__ == "__main__":
    main()
