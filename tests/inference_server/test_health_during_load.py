"""/health keeps answering while a model that takes seconds to load is loading."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from modelyard_dev.procs import inference_service


@pytest.fixture(scope="module")
def large_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelyard_dev.tiny_model import preset, write_model

    root = tmp_path_factory.mktemp("large-models")
    write_model(root / "large", preset("large"))
    return root


@pytest.mark.slow
def test_health_answers_during_a_slow_load(large_models: Path, tmp_path: Path) -> None:
    service = inference_service(
        {"MLX_SERVER_MODELS_DIRS": str(large_models), "MLX_SERVER_HF_CACHE_DIR": str(tmp_path)},
        log_dir=tmp_path,
    )
    service.start()
    try:
        loaded = threading.Event()
        result: dict[str, object] = {}

        def load() -> None:
            r = httpx.post(service.url + "/admin/models/local/large/load", timeout=300)
            result["status"] = r.status_code
            result["slot"] = r.json().get("slot")
            loaded.set()

        thread = threading.Thread(target=load)
        thread.start()
        probes = 0
        failures = 0
        with httpx.Client(base_url=service.url, timeout=0.5) as client:
            while not loaded.is_set():
                try:
                    if client.get("/health").status_code == 200:
                        probes += 1
                except httpx.TimeoutException:
                    failures += 1
                time.sleep(0.02)
        thread.join()
        assert result["status"] == 200
        slot = result["slot"]
        assert isinstance(slot, dict)
        assert slot["state"] == "ready"
        # /health answered again and again while the load was in flight (so the load did
        # overlap the probes), each well inside the probe timeout.
        assert probes >= 5, (probes, slot["load_time_s"])
        assert failures == 0
    finally:
        service.stop()
