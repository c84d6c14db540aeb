"""A model downloaded by the manager is served by the inference server from the same cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import inference_service
from tests.manager.downloads.conftest import TINY, ManagerFactory


async def test_downloaded_tiny_model_is_served(
    hub: FakeHub, run_manager: ManagerFactory, tmp_path: Path
) -> None:
    async with run_manager() as m:
        job = await m.start(TINY)
        assert (await m.wait(job["id"], "completed", "failed"))["status"] == "completed"
        cache = m.settings.hub_cache
    (tmp_path / "no-local-models").mkdir()
    inference = inference_service(
        {
            "MLX_SERVER_HF_CACHE_DIR": str(cache),
            "MLX_SERVER_MODELS_DIRS": str(tmp_path / "no-local-models"),
        },
        log_dir=tmp_path,
    )
    await asyncio.to_thread(inference.start)
    try:
        async with httpx.AsyncClient(base_url=inference.url, timeout=60) as client:
            response = await client.post(
                "/v1/chat/completions",
                json={
                    "model": TINY,
                    "messages": [{"role": "user", "content": "hello"}],
                    "max_tokens": 3,
                    "temperature": 0,
                },
            )
    finally:
        inference.stop()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == TINY
    assert body["usage"]["completion_tokens"] == 3
    assert body["choices"][0]["message"]["content"]
