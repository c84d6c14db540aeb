"""Soak: many streaming chat clients through the manager for a while, some of them hanging up.

64 clients stream chat completions from the tiny model through the manager, back to back,
for ``--duration`` seconds; 4 more start long streams and disconnect after a random number of
chunks. Both services are real subprocesses on loopback. Prints one JSON line:

- requests done, errors (anything but a clean stream; the deliberate disconnects excluded),
  p50/p99 time to first token;
- manager RSS at the start of the load and at the end, and its growth (target < 10%); also
  the RSS 5 s into the load (every client connected) and the growth after it;
- ESTABLISHED connections from the manager to the inference server at the end (target: no
  more than the clients that ever ran at once, i.e. nothing leaked by the disconnects);
- whether generation stopped for the clients that hung up: the inference pool's
  ``active_requests`` back to 0 and ``tokens_generated`` no longer growing.

Not part of CI.

    python bench/soak.py [--duration 60] [--clients 64] [--disconnecting 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Storage, emit, percentile, require_shared_storage
from modelyard_dev.procs import Service, inference_service, manager_service, running
from modelyard_dev.tiny_model import TINY, english_corpus, write_model

MODEL = "local/tiny"
RSS_GROWTH_TARGET_PCT = 10.0
RAMP_S = 5


@dataclass
class Tally:
    done: int = 0
    disconnects: int = 0
    ttft: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


PROMPTS = english_corpus()


def body(rng: random.Random, max_tokens: int) -> dict[str, Any]:
    prompt = " ".join(rng.sample(PROMPTS, rng.randint(1, 3)))
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "stream": True,
    }


def _content(line: str) -> bool:
    if not line.startswith("data: {"):
        return False
    choices = json.loads(line[6:]).get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


async def steady_client(
    client: httpx.AsyncClient, deadline: float, tally: Tally, rng: random.Random
) -> None:
    """Stream one chat after another until the deadline; every stream must end cleanly."""
    while time.monotonic() < deadline:
        started = time.perf_counter()
        first = 0.0
        finished = False
        try:
            async with client.stream(
                "POST", "/v1/chat/completions", json=body(rng, rng.randint(16, 96))
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    tally.errors[f"status {response.status_code}"] += 1
                    continue
                async for line in response.aiter_lines():
                    if line == "data: [DONE]":
                        finished = True
                    elif line.startswith('data: {"error"'):
                        tally.errors["error frame"] += 1
                    elif not first and _content(line):
                        first = time.perf_counter()
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        if not finished:
            tally.errors["no [DONE]"] += 1
            continue
        tally.done += 1
        if first:
            tally.ttft.append(first - started)


async def disconnecting_client(
    client: httpx.AsyncClient, deadline: float, tally: Tally, rng: random.Random
) -> None:
    """Start long streams and hang up after a random number of content chunks."""
    while time.monotonic() < deadline:
        chunks = 0
        wanted = rng.randint(1, 30)
        try:
            async with client.stream(
                "POST", "/v1/chat/completions", json=body(rng, 400)
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    tally.errors[f"status {response.status_code}"] += 1
                    continue
                async for line in response.aiter_lines():
                    if _content(line):
                        chunks += 1
                        if chunks >= wanted:
                            break
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        # Leaving the block closed the connection mid-stream.
        tally.disconnects += 1
        await asyncio.sleep(rng.uniform(0.0, 0.5))


def upstream_connections(manager: Service, inference: Service) -> int:
    assert manager.pid is not None
    conns = psutil.Process(manager.pid).net_connections(kind="tcp")
    return sum(
        1
        for c in conns
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == inference.port
    )


def rss(service: Service) -> int:
    assert service.pid is not None
    return int(psutil.Process(service.pid).memory_info().rss)


async def generation_stopped(inference: Service, wait_s: float = 30.0) -> dict[str, Any]:
    """Wait for the pool to go idle, then check that no tokens are being generated."""
    async with httpx.AsyncClient(base_url=inference.url, timeout=10) as client:

        async def snapshot() -> tuple[int, int]:
            slots = (await client.get("/admin/pool")).json()["slots"]
            active = sum(s["active_requests"] + s["queued_requests"] for s in slots)
            return active, sum(s["tokens_generated"] for s in slots)

        started = time.monotonic()
        active, tokens = await snapshot()
        while active and time.monotonic() - started < wait_s:
            await asyncio.sleep(0.1)
            active, tokens = await snapshot()
        idle_after = time.monotonic() - started
        await asyncio.sleep(1.0)
        active_later, tokens_later = await snapshot()
    return {
        "active_requests_end": active_later,
        "idle_after_s": round(idle_after, 3),
        "tokens_growth_after_idle": tokens_later - tokens,
        "stopped": active == 0 and active_later == 0 and tokens_later == tokens,
    }


async def soak(manager: Service, inference: Service, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=args.clients + args.disconnecting + 8)
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(base_url=manager.url, limits=limits, timeout=timeout) as client:
        warm = Tally()
        await steady_client(client, time.monotonic() + 0.5, warm, rng)  # load the model
        rss_start = rss(manager)
        tally = Tally()
        deadline = time.monotonic() + args.duration
        tasks = [
            steady_client(client, deadline, tally, random.Random(rng.random()))
            for _ in range(args.clients)
        ]
        tasks += [
            disconnecting_client(client, deadline, tally, random.Random(rng.random()))
            for _ in range(args.disconnecting)
        ]
        samples: list[int] = []

        async def sample_rss() -> None:
            while time.monotonic() < deadline:
                samples.append(rss(manager))
                await asyncio.sleep(1.0)

        started = time.monotonic()
        await asyncio.gather(sample_rss(), *tasks)
        elapsed = time.monotonic() - started
    stopped = await generation_stopped(inference)
    rss_end = rss(manager)
    connections = upstream_connections(manager, inference)
    peak = args.clients + args.disconnecting
    growth = (rss_end - rss_start) / rss_start * 100
    # RSS once every client is connected: growth after it is what a leak would show.
    rss_ramped = samples[min(RAMP_S, len(samples) - 1)] if samples else rss_start
    return {
        "benchmark": "soak",
        "duration_s": round(elapsed, 1),
        "clients": args.clients,
        "disconnecting_clients": args.disconnecting,
        "requests_done": tally.done,
        "requests_per_s": round(tally.done / elapsed, 1),
        "deliberate_disconnects": tally.disconnects,
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "ttft_p50_ms": round(percentile(tally.ttft, 50) * 1000, 1),
        "ttft_p99_ms": round(percentile(tally.ttft, 99) * 1000, 1),
        "manager_rss_start_mib": round(rss_start / 2**20, 1),
        "manager_rss_end_mib": round(rss_end / 2**20, 1),
        "manager_rss_growth_pct": round(growth, 2),
        "manager_rss_after_ramp_mib": round(rss_ramped / 2**20, 1),
        "manager_rss_growth_after_ramp_pct": round((rss_end - rss_ramped) / rss_ramped * 100, 2),
        "upstream_connections_end": connections,
        "upstream_connections_max_expected": peak,
        "generation_stopped": stopped,
        "targets": {
            "errors": 0,
            "manager_rss_growth_pct": RSS_GROWTH_TARGET_PCT,
            "upstream_connections_end": f"<= {peak}",
        },
        "met": {
            "errors": not tally.errors,
            "manager_rss_growth_pct": growth < RSS_GROWTH_TARGET_PCT,
            "upstream_connections_end": connections <= peak,
            "generation_stopped": stopped["stopped"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--disconnecting", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelyard-soak-") as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        write_model(storage.models / "tiny", TINY)
        inference = inference_service(storage.env(), log_dir=root)
        manager = manager_service(
            {**storage.env(), "MODEL_MANAGER_INFERENCE_URL": inference.url}, log_dir=root
        )
        with running(inference, manager):
            require_shared_storage(manager.url)
            result = asyncio.run(soak(manager, inference, args))
    emit(result)


if __name__ == "__main__":
    main()
