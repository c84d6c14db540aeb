"""Fixtures for manager tests: the app in-process with its lifespan, settings in tmp dirs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from manager.app import create_app
from manager.settings import ManagerSettings

CLOSED_PORT_URL = "http://127.0.0.1:9"

AppClientFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., ManagerSettings]:
    def build(**overrides: Any) -> ManagerSettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "hf_cache_dir": tmp_path / "hf-cache",
            "models_dir": tmp_path / "models",
            "inference_url": CLOSED_PORT_URL,
            "proxy_retry_wait_s": 0.01,
        }
        values.update(overrides)
        return ManagerSettings(**values)

    return build


@pytest.fixture
def app_client(make_settings: Callable[..., ManagerSettings]) -> AppClientFactory:
    """``async with app_client(**settings) as (app, client)``: lifespan run, ASGI transport."""

    @asynccontextmanager
    async def open_app(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(make_settings(**overrides))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://localhost"
            ) as client:
                yield app, client

    return open_app
