"""What each model can be asked for (``capabilities`` on ``/v1/models`` entries), as the
inference server says.

The inference server reads them from each model's files (its chat template, and the tool-call
formats its mlx-lm can parse) and lists them on its own ``GET /v1/models``; the manager asks
it rather than guessing from its own environment, as for the model types it can load.

The answer is kept by model id. The catalog waits for a fetch (at most ``wait_s``; the fetch
itself may take longer and fills the cache when done) when there is no answer yet, when it
lists models the last answer was not asked about (a download or an import since), or when
the last fetch failed more than ``retry_s`` ago. An answer older than ``TTL_S`` is served
while a new one is fetched in the background (a model's files rarely change under the same
id). A model the server does not list, or a server that cannot be asked, has no capabilities
(``None``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from manager.inference_client import InferenceClient
from service_kit.service_errors import ServiceError

logger = logging.getLogger(__name__)

TTL_S = 30.0
FETCH_TIMEOUT_S = 10.0

Capabilities = Mapping[str, list[str]]


@dataclass(frozen=True)
class _Answer:
    capabilities: Capabilities | None  # None: the fetch failed
    fetched_at: float
    asked: frozenset[str]  # the ids the catalog listed when the fetch started


class ModelCapabilities:
    def __init__(self, inference: InferenceClient, *, wait_s: float, retry_s: float) -> None:
        self._inference = inference
        self._wait_s = wait_s
        self._retry_s = retry_s
        self._last: _Answer | None = None
        self._inflight: asyncio.Task[_Answer] | None = None

    @property
    def inflight(self) -> asyncio.Task[_Answer] | None:
        return self._inflight

    async def get(self, ids: frozenset[str]) -> Capabilities | None:
        """Capabilities by model id for a catalog that lists ``ids``."""
        last = self._last
        if last is not None:
            age = time.monotonic() - last.fetched_at
            if last.capabilities is None:
                if age < self._retry_s:
                    return None
            elif ids <= last.asked:
                if age >= TTL_S:
                    self._fetch(ids)  # in the background: the answer in hand is served
                return last.capabilities
        task = self._fetch(ids if last is None else ids | last.asked)
        try:
            answer = await asyncio.wait_for(asyncio.shield(task), self._wait_s)
        except TimeoutError:  # the fetch goes on and fills the cache
            return last.capabilities if last is not None else None
        return answer.capabilities

    def _fetch(self, ids: frozenset[str]) -> asyncio.Task[_Answer]:
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._refresh(ids))
        return self._inflight

    async def _refresh(self, ids: frozenset[str]) -> _Answer:
        try:
            answer = _Answer(await self._ask(), time.monotonic(), ids)
            self._last = answer
            return answer
        finally:
            self._inflight = None

    async def _ask(self) -> Capabilities | None:
        try:
            models = await self._inference.models(wait_s=FETCH_TIMEOUT_S)
        except (ServiceError, ValidationError) as exc:
            logger.debug("model capabilities unavailable: %s", exc)
            return None
        return {m.id: m.capabilities for m in models.data if m.capabilities is not None}
