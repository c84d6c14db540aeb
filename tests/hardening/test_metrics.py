"""Every metric family of the inference server shows a non-zero sample after real work:
generation (streamed and not, requests queued behind others), loads, a failed load, eviction
and unload. Read from /metrics with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inference_server.metrics import InferenceMetrics
from modelyard_dev.procs import Service, inference_service
from tests.hardening.conftest import MODEL, assert_envelope

STREAMS = 6


@pytest.fixture(scope="module")
def server(
    models_dir: Path, hostile_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    service = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": f"{models_dir},{hostile_dir}",
            "MLX_SERVER_HF_CACHE_DIR": str(tmp_path_factory.mktemp("hf-cache")),
            "MLX_SERVER_MAX_MODELS": "2",
            # One sequence decodes at a time: the others wait for their first token.
            "MLX_SERVER_COMPLETION_BATCH_SIZE": "1",
        },
        log_dir=tmp_path_factory.mktemp("metrics-logs"),
    )
    service.start()
    yield service
    service.stop()


def parse(text: str) -> dict[str, float]:
    """The largest sample of each family (counters: ``_total``; histograms: ``_count``)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        wanted = {"counter": "_total", "histogram": "_count"}.get(family.type, "")
        values = [s.value for s in family.samples if s.name == family.name + wanted]
        out[family.name] = max(values, default=0.0)
    return out


def chat(model: str, tokens: int, *, stream: bool = False) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "tell me a long story"}],
        "max_tokens": tokens,
        "temperature": 0,
        "stream": stream,
    }


async def queued_streams(server: Service) -> dict[str, float]:
    """Start several long streams, scrape /metrics until one is seen queued, then hang up."""
    seen: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:

        async def stream() -> None:
            async with client.stream(
                "POST", "/v1/chat/completions", json=chat(MODEL, 450, stream=True)
            ) as response:
                async for _ in response.aiter_lines():
                    pass

        tasks = [asyncio.create_task(stream()) for _ in range(STREAMS)]
        try:
            async with asyncio.timeout(180):  # the first stream loads the model
                while seen.get("modelyard_inference_queue_depth", 0) < 1:
                    sample = parse((await client.get("/metrics")).text)
                    for name, value in sample.items():
                        seen[name] = max(seen.get(name, 0.0), value)
                    await asyncio.sleep(0.01)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return seen


async def idle(server: Service) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client, asyncio.timeout(30):
        while True:
            slots = (await client.get("/admin/pool")).json()["slots"]
            if not any(s["active_requests"] for s in slots):
                return
            await asyncio.sleep(0.05)


async def test_every_metric_family_is_fed_by_real_work(server: Service) -> None:
    families = {f.name for f in InferenceMetrics().registry.collect()}
    seen = await queued_streams(server)
    assert seen["modelyard_inference_queue_depth"] >= 1
    assert seen["modelyard_inference_active_requests"] >= 2
    await idle(server)

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        r = await client.post(
            "/v1/completions", json={"model": MODEL, "prompt": "once", "max_tokens": 4}
        )
        assert r.status_code == 200, r.text
        # Loads, a failed load, an eviction (two models at most) and an unload.
        for model in ("local/tiny-b", "local/tiny-c"):
            assert (await client.post(f"/admin/models/{model}/load")).status_code == 200
        assert_envelope(
            await client.post("/admin/models/local/corrupt/load"), 500, "model_load_failed"
        )
        assert (await client.post("/admin/models/local/tiny-c/unload")).json()["unloaded"] is True
        assert (await client.get("/admin/pool")).json()["total_evictions"] >= 1
        for name, value in parse((await client.get("/metrics")).text).items():
            seen[name] = max(seen.get(name, 0.0), value)

    silent = sorted(name for name in families if seen.get(name, 0.0) <= 0)
    assert not silent, f"families with no non-zero sample: {silent}\n{json.dumps(seen, indent=1)}"
