"""Every metric family of the manager shows a non-zero sample after real work: requests
proxied to the inference server (and one after it went away, retried, then refused), Hub
searches (one answered from the cache) and two downloads from a fake Hub on loopback (one
queued behind the other, one retried after a Hub error). Read from /metrics with
prometheus_client's own parser; the families come from ``ManagerMetrics``' registry, so a
metric added later is checked too."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from manager.metrics import ManagerMetrics
from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service, inference_service, manager_service
from tests.hardening.conftest import MODEL, assert_envelope, manager_env

FIRST = "org/first"
SECOND = "org/second"
PREFIX = "modelyard_manager_"


@pytest.fixture(scope="module")
def hub() -> Iterator[tuple[FakeHub, str]]:
    hub = FakeHub()
    hub.add_tiny_model(FIRST, seed=1)
    hub.add_tiny_model(SECOND, seed=2)
    with hub.serve() as url:
        yield hub, url


@pytest.fixture(scope="module")
def services(
    models_dir: Path, hub: tuple[FakeHub, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Service]]:
    """An inference server of its own (the test stops it) and a manager with one download
    slot, its own data, models folder and Hugging Face cache."""
    logs = tmp_path_factory.mktemp("manager-metrics-logs")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(tmp_path_factory.mktemp("inference-hf")),
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            **manager_env(
                inference,
                tmp_path_factory.mktemp("data"),
                tmp_path_factory.mktemp("models"),
                tmp_path_factory.mktemp("hf"),
            ),
            "MODEL_MANAGER_HF_ENDPOINT": hub[1],
            "MODEL_MANAGER_MAX_CONCURRENT_DOWNLOADS": "1",
            "MODEL_MANAGER_DOWNLOAD_BACKOFF_S": "0.05",
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield manager, inference
        finally:
            manager.stop()
    finally:
        inference.stop()


def parse(text: str) -> dict[str, float]:
    """The largest sample of each family (counters: ``_total``; histograms: ``_count``)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        wanted = {"counter": "_total", "histogram": "_count"}.get(family.type, "")
        values = [s.value for s in family.samples if s.name == family.name + wanted]
        out[family.name] = max(values, default=0.0)
    return out


def scrape(client: httpx.Client, seen: dict[str, float]) -> None:
    for name, value in parse(client.get("/metrics").text).items():
        seen[name] = max(seen.get(name, 0.0), value)


def download_both(client: httpx.Client, seen: dict[str, float]) -> None:
    """Start two downloads with one slot, scraping /metrics until both have ended."""
    ids = []
    for model_id in (FIRST, SECOND):
        r = client.post("/api/downloads", json={"model_id": model_id})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    deadline = time.monotonic() + 60
    while True:
        scrape(client, seen)
        states = [client.get(f"/api/downloads/{job_id}").json()["status"] for job_id in ids]
        if all(s in ("completed", "failed", "cancelled") for s in states):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.02)
    assert states == ["completed", "completed"]


def test_every_metric_family_is_fed_by_real_work(
    services: tuple[Service, Service], hub: tuple[FakeHub, str]
) -> None:
    manager, inference = services
    fake_hub, _ = hub
    families = {f.name for f in ManagerMetrics().registry.collect()}
    assert all(name.startswith(PREFIX) for name in families)
    seen: dict[str, float] = {}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        r = client.post("/v1/chat/completions", json=chat)
        assert r.status_code == 200, r.text

        for _ in range(2):  # the second is answered from the cache
            r = client.get("/api/hub/search", params={"author": "org"})
            assert r.status_code == 200, r.text
            assert {m["id"] for m in r.json()["results"]} == {FIRST, SECOND}

        # The first download stalls a moment (the second waits for the slot meanwhile); the
        # second's weights fail once (retried).
        fake_hub.stall_after_bytes(1024, seconds=1.0, path_glob=f"{FIRST}/model.safetensors")
        fake_hub.fail_next(1, 500, path_glob=f"{SECOND}/model.safetensors")
        download_both(client, seen)
        plan_calls = [
            sample
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for sample in family.samples
            if sample.name == f"{PREFIX}hub_requests_total"
            and sample.labels == {"operation": "download_plan", "outcome": "ok"}
        ]
        assert plan_calls and plan_calls[0].value >= 2  # one plan per download

        inference.stop()
        r = client.post("/v1/chat/completions", json=chat)
        assert_envelope(r, 503)
        scrape(client, seen)

    silent = sorted(name for name in families if seen.get(name, 0.0) <= 0)
    assert not silent, f"families with no non-zero sample: {silent}\n{json.dumps(seen, indent=1)}"
