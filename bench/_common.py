"""Helpers shared by the benchmarks: storage settings, streaming clients and percentiles."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class Storage:
    """Where a benchmark's processes keep models, set up as a user sets up both processes:
    ``MODELYARD_HOME`` (the manager's database, and ``models/`` for ``local/<name>`` models)
    and ``HF_HUB_CACHE``, in the benchmark's temporary folder, never the user's own."""

    home: Path
    hub: Path

    @classmethod
    def under(cls, root: Path) -> Storage:
        return cls(home=root / "yard", hub=root / "hf")

    @property
    def models(self) -> Path:
        """Where ``local/<name>`` is ``<name>``."""
        return self.home / "models"

    def env(self) -> dict[str, str]:
        """The settings both processes read (and nothing per process)."""
        return {"MODELYARD_HOME": str(self.home), "HF_HUB_CACHE": str(self.hub)}


def require_shared_storage(manager_url: str) -> None:
    """Stop the benchmark when the manager says the two processes read different folders."""
    inference = httpx.get(f"{manager_url}/api/system", timeout=30).json()["inference"]
    if inference["storage_agrees"] is not True:
        raise SystemExit(f"the processes do not read the same folders: {inference['mismatches']}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class StreamResult:
    tokens: int
    started: float
    first: float
    ended: float

    @property
    def decode_tps(self) -> float:
        span = self.ended - self.first
        return (self.tokens - 1) / span if self.tokens > 1 and span > 0 else float("nan")

    @property
    def ttft(self) -> float:
        return self.first - self.started


def _tokens_from(chunks: int, usage: dict[str, Any] | None) -> int:
    if usage and isinstance(usage.get("completion_tokens"), int):
        return int(usage["completion_tokens"])
    return chunks


async def stream_chat(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> StreamResult:
    """POST a streamed chat completion and time it (first content chunk to the last)."""
    payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first = 0.0
    last = 0.0
    chunks = 0
    usage = None
    async with client.stream("POST", url, json=payload) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                usage = data["usage"]
            choices = data.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                now = time.perf_counter()
                if not first:
                    first = now
                last = now
                chunks += 1
    return StreamResult(
        tokens=_tokens_from(chunks, usage), started=started, first=first, ended=last
    )


def paired_difference_ms(first: str, second: str, body: dict[str, Any], n: int) -> float:
    """Median, over ``n`` pairs of back-to-back chat completions (the order alternating), of
    the latency through ``second`` minus through ``first``: drift on the machine hits both
    requests of a pair alike, where the medians of two separate series drift apart."""
    differences = []
    with (
        httpx.Client(base_url=first, timeout=60) as a,
        httpx.Client(base_url=second, timeout=60) as b,
    ):
        for client in (a, b):
            client.post("/v1/chat/completions", json=body).raise_for_status()
        for index in range(n):
            took = {}
            pair = [("first", a), ("second", b)]
            for name, client in pair if index % 2 == 0 else pair[::-1]:
                started = time.perf_counter()
                client.post("/v1/chat/completions", json=body).raise_for_status()
                took[name] = (time.perf_counter() - started) * 1000
            differences.append(took["second"] - took["first"])
    return median(differences)


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, sort_keys=True))
