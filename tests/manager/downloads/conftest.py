"""Fixtures for download tests: a fake Hub on loopback, the manager served by uvicorn in the
test's event loop (real HTTP, so server-sent events stream), real files, real SQLite."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from manager.app import create_app
from manager.downloads.jobs import DownloadManager
from manager.settings import ManagerSettings
from modelyard_dev.fake_hub import FakeHub

TINY = "org/tiny"
GOOD_TOKEN = "hf_good_token"


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[tuple[FakeHub, str]]:
    """One fake Hub per test module; tests use their own repo ids."""
    hub = FakeHub(valid_tokens={GOOD_TOKEN})
    hub.add_tiny_model(TINY)
    running = hub.serve_in_thread()
    try:
        yield hub, running.url
    finally:
        running.stop()


@pytest.fixture
def hub(fake_hub: tuple[FakeHub, str]) -> Iterator[FakeHub]:
    """The module's fake Hub with no faults and zeroed statistics."""
    hub, _url = fake_hub
    hub.reset_faults()
    hub.reset_stats()
    yield hub
    hub.reset_faults()


@pytest.fixture
def hub_url(fake_hub: tuple[FakeHub, str]) -> str:
    return fake_hub[1]


@dataclass
class Manager:
    app: FastAPI
    client: httpx.AsyncClient
    url: str
    settings: ManagerSettings

    @property
    def downloads(self) -> DownloadManager:
        manager: DownloadManager = self.app.state.downloads
        return manager

    async def start(self, model_id: str, expect: int = 202, **body: Any) -> dict[str, Any]:
        response = await self.client.post("/api/downloads", json={"model_id": model_id, **body})
        assert response.status_code == expect, response.text
        job: dict[str, Any] = response.json()
        return job

    async def job(self, job_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/downloads/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    async def wait(
        self,
        job_id: str,
        *statuses: str,
        until: Callable[[dict[str, Any]], bool] | None = None,
        within: float = 30.0,
    ) -> dict[str, Any]:
        """Poll the job until its status is one of ``statuses`` (or ``until`` holds)."""
        deadline = time.monotonic() + within
        while True:
            job = await self.job(job_id)
            if (statuses and job["status"] in statuses) or (until is not None and until(job)):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job never reached {statuses}: {job}")
            await asyncio.sleep(0.02)


ManagerFactory = Callable[..., AbstractAsyncContextManager[Manager]]


@pytest.fixture
def run_manager(make_settings: Callable[..., ManagerSettings], hub_url: str) -> ManagerFactory:
    """``async with run_manager(**settings) as manager``: the app on a loopback port."""

    @asynccontextmanager
    async def open_manager(**overrides: Any) -> AsyncIterator[Manager]:
        values: dict[str, Any] = {
            "hf_endpoint": hub_url,
            "disk_reserve_gb": 0,
            "download_backoff_s": 0.01,
            "download_backoff_max_s": 0.05,
            "stall_timeout_s": 2.0,
            "download_progress_interval_s": 0.05,
        }
        values.update(overrides)
        settings = make_settings(**values)
        app = create_app(settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the manager did not start")
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield Manager(app, client, url, settings)
        finally:
            server.should_exit = True
            await task
            sock.close()

    return open_manager
