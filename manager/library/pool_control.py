"""Loads, unloads and the pool's status through the manager.

With one inference server, each goes to it (a ``host`` may only name it); with several, to
the fleet (``manager/fleet``), which picks or checks the host. Every load or unload makes the
cached pool state (``pool_state.py``) stale. A load the server refuses with
``model_not_found`` is explained when the library holds the model in a folder that server
does not read (``visibility.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from manager.errors import (
    ConflictError,
    ModelNotVisibleError,
    NotFoundError,
    ServiceUnavailableError,
)
from manager.fleet.fleet import Fleet
from manager.fleet.schemas import HostStatus, InferencePool
from manager.inference_client import InferenceClient, UpstreamAnswer
from manager.inference_watch import InferenceView
from manager.library.paths import validate_model_id
from manager.library.pool_state import PoolSource
from manager.library.visibility import is_model_not_found
from manager.settings import ManagerSettings
from shared_schemas.pool import LoadRequest, LoadResult, UnloadResult

Explain = Callable[[str], Awaitable[ModelNotVisibleError | None]]


class PoolControl:
    """The inference pool as the manager's routes change it (see the module docstring)."""

    def __init__(
        self,
        settings: ManagerSettings,
        inference: InferenceClient,
        fleet: Fleet | None,
        pool: PoolSource,
        view: Callable[[], InferenceView],
        explain: Explain,
    ) -> None:
        self.settings = settings
        self._inference = inference
        self._fleet = fleet
        self._pool = pool
        self._view = view
        self._explain = explain

    async def status(self) -> InferencePool:
        if self._fleet is not None:
            return self._fleet.pool_status()
        pool = await self._inference.pool()
        host = HostStatus(
            url=self.settings.inference_url,
            up=True,
            pool=pool,
            capabilities=self._view().capabilities,
        )
        return InferencePool(**pool.model_dump(), hosts=[host])

    def _one_host(self, host: str | None) -> None:
        """With one inference server, ``host`` may only name it."""
        if host is not None and host.rstrip("/") != self.settings.inference_url:
            raise NotFoundError(
                f"'{host[:200]}' is not the inference server ({self.settings.inference_url})",
                code="host_not_found",
                param="host",
                details={"hosts": [self.settings.inference_url]},
                resolution_steps=["Leave host out, or use the URL in GET /api/inference/pool."],
            )

    async def load(
        self, model_id: str, request: LoadRequest | None, host: str | None = None
    ) -> LoadResult:
        validate_model_id(model_id)
        if self._fleet is not None:
            return await self._fleet.load(model_id, request, host)
        self._one_host(host)
        try:
            result = await self._inference.load(model_id, request)
        except UpstreamAnswer as exc:
            explained = await self._explain(model_id) if is_model_not_found(exc.body()) else None
            if explained is not None:
                raise explained from exc
            raise
        finally:
            self._pool.invalidate()
        return result

    async def unload(self, model_id: str, host: str | None = None) -> UnloadResult:
        validate_model_id(model_id)
        if self._fleet is not None:
            return await self._fleet.unload(model_id, host)
        self._one_host(host)
        try:
            result = await self._inference.unload(model_id)
        finally:
            self._pool.invalidate()
        return result

    async def unload_before_delete(self, model_id: str) -> bool | None:
        """Unload the model before its files go; None when the server is down
        (nothing is loaded there), 409 ``model_loading`` while a load is under way."""
        try:
            if self._fleet is not None:
                result = await self._fleet.unload(model_id, None)
            else:
                result = await self._inference.unload(model_id)
        except ServiceUnavailableError:
            return None  # the server is down: nothing is loaded there
        self._pool.invalidate()
        if (await self._pool.get()).state_of(model_id) == "loading":
            raise ConflictError(
                f"'{model_id}' is being loaded by the inference server",
                code="model_loading",
                headers={"Retry-After": "2"},
                resolution_steps=["Retry when the load has finished."],
            )
        return result.unloaded
