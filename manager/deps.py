"""Dependency aliases for routes: everything a route needs comes from ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.fleet.fleet import Fleet
from manager.inference_client import InferenceClient
from manager.inference_watch import InferenceWatch
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings


async def _settings(request: Request) -> ManagerSettings:
    settings: ManagerSettings = request.app.state.settings
    return settings


async def _metrics(request: Request) -> ManagerMetrics:
    metrics: ManagerMetrics = request.app.state.metrics
    return metrics


async def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(request.app.state.sessions) as session:
        yield session


async def _http(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.http
    return client


async def _inference(request: Request) -> InferenceClient:
    client: InferenceClient = request.app.state.inference
    return client


async def _fleet(request: Request) -> Fleet | None:
    """The inference servers when there are several; None with one."""
    fleet: Fleet | None = request.app.state.fleet
    return fleet


async def _inference_watch(request: Request) -> InferenceWatch:
    watch: InferenceWatch = request.app.state.inference_watch
    return watch


SettingsDep = Annotated[ManagerSettings, Depends(_settings)]
MetricsDep = Annotated[ManagerMetrics, Depends(_metrics)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
HttpDep = Annotated[httpx.AsyncClient, Depends(_http)]
InferenceDep = Annotated[InferenceClient, Depends(_inference)]
InferenceWatchDep = Annotated[InferenceWatch, Depends(_inference_watch)]
FleetDep = Annotated[Fleet | None, Depends(_fleet)]
