"""Two real inference servers behind one real manager, all on loopback, reading one models
folder: routing, the merged catalog and pool, loads on a named server, a server dying
mid-stream, coming back, and none left."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service

A_MODEL, B_MODEL, SPARE = "local/tiny-a", "local/tiny-b", "local/tiny-c"


@dataclass
class Fleet:
    manager: Service
    a: Service
    b: Service

    def pool_of(self, server: Service) -> dict[str, Any]:
        return fleet_pool(server)

    def tokens_on(self, server: Service, model: str) -> int:
        slots = {s["id"]: s for s in self.pool_of(server)["slots"]}
        return int(slots[model]["tokens_generated"]) if model in slots else 0

    def manager_pool(self) -> dict[str, Any]:
        pool: dict[str, Any] = httpx.get(f"{self.manager.url}/api/inference/pool").json()
        return pool


def fleet_pool(server: Service) -> dict[str, Any]:
    pool: dict[str, Any] = httpx.get(f"{server.url}/admin/pool", timeout=10).json()
    return pool


def servers(models_dir: Path, hf_cache: Path, logs: Path) -> tuple[Service, Service]:
    def one(preload: str) -> Service:
        return inference_service(
            {
                "MLX_SERVER_MODELS_DIRS": str(models_dir),
                "MLX_SERVER_HF_CACHE_DIR": str(hf_cache),
                "MLX_SERVER_PRELOAD_MODELS": preload,
            },
            log_dir=logs,
        )

    return one(A_MODEL), one(B_MODEL)


def manager_for(
    a: Service, b: Service, models_dir: Path, hf_cache: Path, root: Path, **extra: str
) -> Service:
    return manager_service(
        {
            **extra,
            "MODEL_MANAGER_INFERENCE_URLS": f"{a.url},{b.url}",
            "MODEL_MANAGER_INFERENCE_REFRESH_S": "0.2",
            "MODEL_MANAGER_DATA_DIR": str(root / "data"),
            "MODEL_MANAGER_HF_CACHE_DIR": str(hf_cache),
            "MODEL_MANAGER_MODELS_DIR": str(models_dir),
            "MODEL_MANAGER_LOG_LEVEL": "WARNING",
        },
        log_dir=root,
    )


@pytest.fixture
def fleet(models_dir: Path, hf_cache: Path, tmp_path: Path) -> Iterator[Fleet]:
    a, b = servers(models_dir, hf_cache, tmp_path)
    manager = manager_for(a, b, models_dir, hf_cache, tmp_path)
    started: list[Service] = []
    try:
        for service in (a, b, manager):
            service.start(timeout=120)
            started.append(service)
        yield Fleet(manager, a, b)
    finally:
        for service in reversed(started):
            service.stop()


def chat(url: str, model: str, max_tokens: int = 2, **extra: Any) -> httpx.Response:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
        "temperature": 0,
        **extra,
    }
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)


def wait_for(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_fleet_routes_merges_and_loads_where_told(fleet: Fleet) -> None:
    manager = fleet.manager.url
    # Requests go to the server that has the model loaded, and only there.
    assert chat(manager, A_MODEL).status_code == 200
    assert chat(manager, B_MODEL).status_code == 200
    assert fleet.tokens_on(fleet.a, A_MODEL) > 0
    assert fleet.tokens_on(fleet.b, B_MODEL) > 0
    assert B_MODEL not in {s["id"] for s in fleet.pool_of(fleet.a)["slots"]}
    assert A_MODEL not in {s["id"] for s in fleet.pool_of(fleet.b)["slots"]}

    # The catalog says where each model is loaded.
    cards = {c["id"]: c for c in httpx.get(f"{manager}/v1/models").json()["data"]}
    assert cards[A_MODEL]["state"] == "loaded"
    assert cards[A_MODEL]["hosts"] == {fleet.a.url: "loaded", fleet.b.url: "not-loaded"}
    assert cards[B_MODEL]["hosts"] == {fleet.a.url: "not-loaded", fleet.b.url: "loaded"}
    assert cards[SPARE]["state"] == "not-loaded"

    # The pool shows each server, and every slot names its server.
    pool = fleet.manager_pool()
    assert [(h["url"], h["up"]) for h in pool["hosts"]] == [
        (fleet.a.url, True),
        (fleet.b.url, True),
    ]
    assert {(s["id"], s["host"]) for s in pool["slots"]} == {
        (A_MODEL, fleet.a.url),
        (B_MODEL, fleet.b.url),
    }
    assert pool["max_memory_bytes"] == sum(h["pool"]["max_memory_bytes"] for h in pool["hosts"])

    # Load and unload on a named server.
    loaded = httpx.post(
        f"{manager}/api/inference/models/{SPARE}/load", params={"host": fleet.b.url}, timeout=120
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["slot"]["host"] == fleet.b.url
    assert SPARE in {s["id"] for s in fleet.pool_of(fleet.b)["slots"]}
    assert SPARE not in {s["id"] for s in fleet.pool_of(fleet.a)["slots"]}
    # The manager refreshed that server after the load: the next request goes there.
    assert chat(manager, SPARE).status_code == 200
    assert fleet.tokens_on(fleet.b, SPARE) > 0
    unloaded = httpx.post(f"{manager}/api/inference/models/{SPARE}/unload")
    assert unloaded.json() == {"id": SPARE, "unloaded": True}
    assert SPARE not in {s["id"] for s in fleet.pool_of(fleet.b)["slots"]}

    unknown = httpx.post(
        f"{manager}/api/inference/models/{SPARE}/load", params={"host": "http://127.0.0.1:9"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "host_not_found"
    assert unknown.json()["error"]["details"]["hosts"] == [fleet.a.url, fleet.b.url]


def stream_until_killed(manager: str, model: str, kill: Service) -> list[str]:
    """Stream a long completion; kill ``kill`` after the first token; the frames received."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "tell me a long story"}],
        "max_tokens": 400,
        "stream": True,
        "temperature": 0,
    }
    frames: list[str] = []
    with httpx.stream("POST", f"{manager}/v1/chat/completions", json=body, timeout=60) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if not line.startswith("data: "):
                continue
            frames.append(line[6:])
            if len(frames) == 2:
                kill.kill()
    return frames


def test_server_death_mid_stream_then_elsewhere_then_back_then_none(
    fleet: Fleet, models_dir: Path, hf_cache: Path, tmp_path: Path
) -> None:
    manager = fleet.manager.url
    frames = stream_until_killed(manager, B_MODEL, fleet.b)
    # The stream ended with an error frame, not silently and not hanging.
    assert frames[-1] != "[DONE]"
    assert json.loads(frames[-1])["error"]["code"] == "upstream_disconnected"

    # A new request for the dead server's model goes to the other one, which loads it from
    # the shared folder.
    again = chat(manager, B_MODEL)
    assert again.status_code == 200, again.text
    assert fleet.tokens_on(fleet.a, B_MODEL) > 0
    hosts = {h["url"]: h for h in fleet.manager_pool()["hosts"]}
    assert hosts[fleet.b.url]["up"] is False
    assert hosts[fleet.b.url]["error"]

    # The server comes back on its address: it is up again after a check.
    back = inference_service(
        {"MLX_SERVER_MODELS_DIRS": str(models_dir), "MLX_SERVER_HF_CACHE_DIR": str(hf_cache)},
        port=fleet.b.port,
        log_dir=tmp_path,
    )
    back.start(timeout=120)
    try:
        wait_for(lambda: {h["url"]: h["up"] for h in fleet.manager_pool()["hosts"]}[fleet.b.url])
    finally:
        back.stop()
    fleet.a.kill()
    # Nobody left: 503 with Retry-After, in the envelope.
    none = chat(manager, A_MODEL)
    assert none.status_code == 503
    assert int(none.headers["retry-after"]) > 0
    assert none.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_ready_system_and_verdicts_speak_of_every_server(
    models_dir: Path, hf_cache: Path, tmp_path: Path
) -> None:
    """Before, /ready, /api/system and the compatibility verdicts asked only the first server:
    with it down the manager said it was not ready although the second served, and a model
    too big for the first server's budget was 'too-big' although the second had room."""
    env = {"MLX_SERVER_MODELS_DIRS": str(models_dir), "MLX_SERVER_HF_CACHE_DIR": str(hf_cache)}
    small = inference_service({**env, "MLX_SERVER_MAX_MEMORY_GB": "0.00001"}, log_dir=tmp_path)
    roomy = inference_service(env, log_dir=tmp_path)
    manager = manager_for(
        small, roomy, models_dir, hf_cache, tmp_path, MODEL_MANAGER_PLACEMENT=f"{SPARE}={roomy.url}"
    )
    started: list[Service] = []
    try:
        for service in (small, roomy, manager):
            service.start(timeout=120)
            started.append(service)
        url = manager.url

        ready = httpx.get(f"{url}/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        assert [(h["url"], h["ok"]) for h in ready.json()["hosts"]] == [
            (small.url, True),
            (roomy.url, True),
        ], ready.text
        system = httpx.get(f"{url}/api/system", timeout=30).json()["inference"]
        assert [(h["url"], h["reachable"], h["storage_agrees"]) for h in system["hosts"]] == [
            (small.url, True, True),
            (roomy.url, True, True),
        ]
        budgets = [h["capabilities"]["memory_budget_bytes"] for h in system["hosts"]]
        assert budgets[0] < budgets[1]
        # The single-server fields the web UI and the CLI read are still there.
        assert system["url"] == small.url
        assert system["reachable"] is True and system["storage_agrees"] is True
        assert system["capabilities"]["memory_budget_bytes"] == budgets[0]

        # Too big for the first server's budget, not for the second's: it runs, and says where.
        verdict = httpx.get(f"{url}/api/models/compatibility/{A_MODEL}", timeout=30).json()
        assert verdict["compatible"] is True, verdict
        assert verdict["requirements"]["budget_bytes"] == budgets[1]
        where = next(r for r in verdict["reasons"] if r["code"] == "inference_hosts")
        assert where["message"].startswith(f"Runs on {roomy.url}; not on {small.url}: ")
        assert "budget" in where["message"]

        # The roomy server dies: still ready (the small one serves), naming the one down.
        roomy.kill()
        ready = httpx.get(f"{url}/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        hosts = {h["url"]: h for h in ready.json()["hosts"]}
        assert hosts[small.url]["ok"] is True
        assert hosts[roomy.url]["ok"] is False and roomy.url in hosts[roomy.url]["message"]
        assert roomy.url in ready.json()["checks"]["inference"]["message"]
        system = httpx.get(f"{url}/api/system", timeout=30).json()["inference"]
        assert [h["reachable"] for h in system["hosts"]] == [True, False]
        assert system["reachable"] is True
        # Judged on the server that serves: too big for its budget, and the reason names it.
        verdict = httpx.get(f"{url}/api/models/compatibility/{A_MODEL}", timeout=30).json()
        assert verdict["compatible"] is False and verdict["label"] == "too-big"
        where = next(r for r in verdict["reasons"] if r["code"] == "inference_hosts")
        assert where["severity"] == "blocker" and small.url in where["message"]
        # A model placed on the server that is down waits for it: 503 naming it, not elsewhere.
        pinned = chat(url, SPARE)
        assert pinned.status_code == 503, pinned.text
        assert int(pinned.headers["retry-after"]) > 0
        assert roomy.url in pinned.json()["error"]["message"]
        assert SPARE not in {s["id"] for s in fleet_pool(small)["slots"]}

        # None left: not ready, every server named.
        small.kill()
        ready = httpx.get(f"{url}/ready", timeout=30)
        assert ready.status_code == 503
        assert [h["ok"] for h in ready.json()["hosts"]] == [False, False]
        message = ready.json()["checks"]["inference"]["message"]
        assert small.url in message and roomy.url in message
    finally:
        for service in reversed(started):
            service.stop()
