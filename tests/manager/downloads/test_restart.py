"""A real manager process killed with SIGKILL mid-file: the next one continues the job from
the partial file with Range, and almost nothing is fetched twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service, manager_service

SIZE = 16 * 1024 * 1024 + 4321
REPO = "kill/big"
WEIGHTS = "model.safetensors"


def manager(hub_url: str, root: Path) -> Service:
    return manager_service(
        {
            "MODEL_MANAGER_HF_ENDPOINT": hub_url,
            "MODEL_MANAGER_HF_CACHE_DIR": str(root / "hf"),
            "MODEL_MANAGER_DATA_DIR": str(root / "data"),
            "MODEL_MANAGER_INFERENCE_URL": "http://127.0.0.1:9",
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
            "MODEL_MANAGER_DOWNLOAD_PROGRESS_INTERVAL_S": "0.05",
            "MODEL_MANAGER_LOG_LEVEL": "WARNING",
        },
        log_dir=root,
    )


def wait_job(url: str, job_id: str, ok: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            job: dict[str, Any] = client.get(f"/api/downloads/{job_id}").json()
            if ok(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out: {job}")
            time.sleep(0.02)


def partial(root: Path) -> Path:
    (path,) = (root / "hf" / "models--kill--big" / "blobs").glob("*.incomplete")
    return path


async def test_sigkill_mid_file_then_restart_continues_with_range(
    hub: FakeHub, hub_url: str, tmp_path: Path
) -> None:
    hub.add_big_file(REPO, WEIGHTS, SIZE, seed=31)
    hub.set_fault(path_glob=f"{REPO}/*", throttle_bps=8_000_000)
    first = manager(hub_url, tmp_path)
    await asyncio.to_thread(first.start)
    try:
        async with httpx.AsyncClient(base_url=first.url) as client:
            # Weights alone, no config.json: forced past the compatibility check.
            body = {"model_id": REPO, "force": True}
            response = await client.post("/api/downloads", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        await asyncio.to_thread(
            wait_job, first.url, job_id, lambda j: j["bytes_done"] >= SIZE * 2 // 5
        )
    finally:
        first.kill()
    kept = partial(tmp_path).stat().st_size
    assert 0 < kept < SIZE
    hub.reset_faults()
    second = manager(hub_url, tmp_path)
    await asyncio.to_thread(second.start)
    try:
        done = await asyncio.to_thread(
            wait_job, second.url, job_id, lambda j: j["status"] in ("completed", "failed")
        )
    finally:
        second.stop()
    assert done["status"] == "completed", done["error"]
    stats = hub.stats.file(REPO, WEIGHTS)
    assert stats.ranges == [f"bytes={kept}-"]
    assert stats.statuses == [200, 206]
    assert stats.bytes_sent <= SIZE * 1.05
    assert done["bytes_done"] == SIZE
    snapshot = tmp_path / "hf" / "models--kill--big" / "snapshots" / done["commit"]
    assert (snapshot / WEIGHTS).stat().st_size == SIZE
    assert not list((tmp_path / "hf" / "models--kill--big" / "blobs").glob("*.incomplete"))
