"""The inference server's pool as the library and the catalog see it: fetched with a short
timeout, kept a moment, and never in the way when the server is down.

One fetch at a time (callers arriving meanwhile share it). A good answer is kept for
``ttl_s``; after a failure the server is not asked again for ``retry_s``, so a hung server
costs one short timeout, not one per request. Loads, unloads and deletes made through the
manager call ``invalidate`` so the next answer is fresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from pydantic import ValidationError

from manager.inference_client import InferenceClient
from shared_schemas.openai import ModelState
from shared_schemas.pool import PoolStatus, SlotInfo, SlotState

logger = logging.getLogger(__name__)

_STATES: dict[SlotState, ModelState] = {
    SlotState.READY: "loaded",
    SlotState.LOADING: "loading",
    SlotState.UNLOADING: "not-loaded",
    SlotState.FAILED: "not-loaded",
}


@dataclass(frozen=True)
class PoolView:
    """The pool at one moment; ``status`` is None when the server could not be reached.

    With several inference servers (``manager/fleet``): ``slots`` holds each model's best
    slot over the servers, ``host_slots`` each server's slots (None for a server that is
    down), and ``largest_budget`` the largest single server's budget (a model runs on one)."""

    status: PoolStatus | None
    fetched_at: float
    slots: Mapping[str, SlotInfo] = field(default_factory=dict)
    host_slots: Mapping[str, Mapping[str, SlotInfo] | None] | None = None
    largest_budget: int | None = None

    @property
    def reachable(self) -> bool:
        return self.status is not None

    @property
    def budget_bytes(self) -> int | None:
        if self.host_slots is not None:
            return self.largest_budget
        return self.status.max_memory_bytes if self.status is not None else None

    def state_of(self, model_id: str) -> ModelState:
        if self.status is None:
            return "unknown"
        slot = self.slots.get(model_id)
        return _STATES[slot.state] if slot is not None else "not-loaded"

    def states_by_host(self, model_id: str) -> dict[str, ModelState] | None:
        """The model's state on each server (None with one server)."""
        if self.host_slots is None:
            return None
        states: dict[str, ModelState] = {}
        for url, slots in self.host_slots.items():
            if slots is None:
                states[url] = "unknown"
                continue
            slot = slots.get(model_id)
            states[url] = _STATES[slot.state] if slot is not None else "not-loaded"
        return states


class PoolSource(Protocol):
    """Where the library gets the pool: one server (``PoolStateCache``) or several."""

    @property
    def inflight(self) -> asyncio.Task[PoolView] | None: ...

    def invalidate(self) -> None: ...

    async def get(self) -> PoolView: ...


def _view(status: PoolStatus | None) -> PoolView:
    slots = {s.id: s for s in status.slots} if status is not None else {}
    return PoolView(status=status, fetched_at=time.monotonic(), slots=slots)


class PoolStateCache:
    def __init__(
        self,
        inference: InferenceClient,
        *,
        timeout_s: float,
        ttl_s: float,
        retry_s: float,
    ) -> None:
        self._inference = inference
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._retry_s = retry_s
        self._last: PoolView | None = None
        self._inflight: asyncio.Task[PoolView] | None = None

    @property
    def inflight(self) -> asyncio.Task[PoolView] | None:
        return self._inflight

    def invalidate(self) -> None:
        self._last = None

    async def get(self) -> PoolView:
        last = self._last
        if last is not None:
            keep = self._ttl_s if last.reachable else self._retry_s
            if time.monotonic() - last.fetched_at < keep:
                return last
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._refresh())
        return await asyncio.shield(self._inflight)

    async def _refresh(self) -> PoolView:
        try:
            view = _view(await self._fetch())
            self._last = view
            return view
        finally:
            self._inflight = None

    async def _fetch(self) -> PoolStatus | None:
        try:
            response = await self._inference.client.get("/admin/pool", timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            logger.debug("pool state unavailable: %s", type(exc).__name__)
            return None
        if response.status_code != 200:
            logger.warning("pool state: the inference server answered %s", response.status_code)
            return None
        try:
            return PoolStatus.model_validate_json(response.content)
        except ValidationError:
            logger.warning("pool state: the inference server's answer does not parse")
            return None
