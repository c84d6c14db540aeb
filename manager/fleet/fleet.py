"""Several inference servers behind one manager (``MODEL_MANAGER_INFERENCE_URLS``).

``Fleet`` is entered once in the app's lifespan when there are two or more servers. For each
server it keeps

- an admin client (pool, load, unload, capabilities) and the proxy's connection pool;
- what it last answered: its pool, the models it sees on its disk (its ``/v1/models``, read
  every ``LIST_MODELS_EVERY`` checks), its capabilities (fetched when it is first reached and
  whenever it comes back);
- whether it is up: down after ``MODEL_MANAGER_INFERENCE_DOWN_AFTER`` failed checks in a row,
  or at once when the proxy cannot connect to it; up again when it answers a check;
- the requests the proxy is forwarding to it now.

A background task checks every server every ``MODEL_MANAGER_INFERENCE_REFRESH_S``; a load or
an unload made through the manager refreshes that server at once. Requests are routed by the
pure policy in ``routing.py`` over these views; ``pool_view`` gives the library and the catalog
the merged pool with each server's states.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx
from pydantic import ValidationError

from manager.errors import NotFoundError, ServiceUnavailableError
from manager.fleet.health import HostHealth
from manager.fleet.hosts import HostConfig
from manager.fleet.routing import HostView, NoRoute, Route, SlotView, choose_host
from manager.fleet.schemas import HostStatus, InferencePool
from manager.inference_client import InferenceClient
from manager.library.pool_state import PoolView
from manager.proxy.upstream import UpstreamPool
from manager.settings import ManagerSettings
from service_kit.service_errors import ServiceError
from shared_schemas.capabilities import InferenceCapabilities
from shared_schemas.openai import ModelList
from shared_schemas.pool import LoadRequest, LoadResult, PoolStatus, SlotInfo, UnloadResult
from shared_schemas.storage import FolderMismatch, folder_mismatches

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0
# The models on a server's disk are listed every this many checks (a listing reads every
# model's config; with storage shared by all servers it rarely differs between them), and
# whenever a server comes back.
LIST_MODELS_EVERY = 10
SizesFn = Callable[[], Awaitable[Mapping[str, int]]]


class InferenceHost:
    """One inference server and what the manager knows of it."""

    def __init__(self, config: HostConfig, settings: ManagerSettings) -> None:
        self.url = config.url
        self.admin = InferenceClient(
            httpx.AsyncClient(
                base_url=config.url,
                headers=config.headers(),
                timeout=httpx.Timeout(connect=2.0, read=30.0, write=30.0, pool=30.0),
                limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
                trust_env=False,
            )
        )
        self.upstream = UpstreamPool(
            config.url,
            max_connections=settings.proxy_max_connections,
            read_timeout_s=settings.proxy_read_timeout_s,
            extra_headers=config.headers(),
        )
        self.up = True  # until a check says otherwise
        self.failures = 0
        self.error: str | None = None
        self.pool: PoolStatus | None = None
        self.models: frozenset[str] | None = None
        self.capabilities: InferenceCapabilities | None = None
        # one set object per distinct answer: verdict caches compare it by identity
        self.model_types: frozenset[str] | None = None
        self.mismatches: tuple[FolderMismatch, ...] = ()
        self.checked_at: float | None = None
        self.in_flight = 0
        self.checks = 0
        self._view = HostView(url=config.url, up=True)

    def finished_one(self) -> None:
        """A request forwarded to this server has ended."""
        self.in_flight -= 1

    def view(self) -> HostView:
        if self._view.in_flight == self.in_flight and self._view.up == self.up:
            return self._view
        return dataclasses.replace(self._view, in_flight=self.in_flight, up=self.up)

    def learned(self, pool: PoolStatus, models: frozenset[str] | None) -> None:
        self.pool = pool
        if models is not None:
            self.models = models
        slots = {
            s.id: SlotView(
                state=s.state,
                memory_bytes=s.memory_bytes or s.estimated_bytes,
                pinned=s.pinned,
                busy=bool(s.active_requests or s.queued_requests),
            )
            for s in pool.slots
        }
        self._view = HostView(
            url=self.url,
            up=self.up,
            in_flight=self.in_flight,
            budget_bytes=pool.max_memory_bytes,
            used_bytes=pool.used_memory_bytes,
            max_models=pool.max_models,
            slots=slots,
            models=self.models,
        )

    def status(self) -> HostStatus:
        return HostStatus(
            url=self.url,
            up=self.up,
            error=None if self.up else self.error,
            in_flight=self.in_flight,
            models_on_disk=len(self.models) if self.models is not None else None,
            pool=self.pool,
            capabilities=self.capabilities,
            checked_at=self.checked_at,
        )

    def health(self) -> HostHealth:
        return HostHealth(
            url=self.url,
            up=self.up,
            answering=self.up and self.failures == 0 and self.checked_at is not None,
            error=self.error,
            capabilities=self.capabilities,
            model_types=self.model_types,
            budget_bytes=(
                self.pool.max_memory_bytes
                if self.pool is not None
                else self.capabilities.memory_budget_bytes
                if self.capabilities is not None
                else None
            ),
            mismatches=self.mismatches,
        )

    async def aclose(self) -> None:
        await self.admin.client.aclose()
        await self.upstream.aclose()


class Fleet:
    """The inference servers behind the manager (see the module docstring)."""

    def __init__(self, settings: ManagerSettings, hosts: list[HostConfig]) -> None:
        self.settings = settings
        self.hosts = [InferenceHost(config, settings) for config in hosts]
        self.by_url = {host.url: host for host in self.hosts}
        self.pins = dict(settings.placement)
        self.sizes: Mapping[str, int] = {}
        self.sizes_fn: SizesFn | None = None
        self._task: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None

    # ---- lifetime -----------------------------------------------------------------------------

    async def __aenter__(self) -> Fleet:
        await self.refresh()
        self._task = asyncio.create_task(self._refresh_forever(), name="inference-fleet")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in (self._task, self._checking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for host in self.hosts:
            await host.aclose()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.inference_refresh_s)
            try:
                await self.refresh()
            except Exception:  # the loop must outlive any one failed round
                logger.exception("refreshing the inference servers failed")

    # ---- checking -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        await asyncio.gather(*(self.refresh_host(host) for host in self.hosts))
        if self.sizes_fn is not None:
            try:
                self.sizes = await self.sizes_fn()
            except Exception:
                logger.exception("reading model sizes for routing failed")

    async def check(self) -> list[HostHealth]:
        """Check every server now (callers arriving meanwhile share the check); what each
        answered, for ``/ready`` and ``/api/system``."""
        if self._checking is None:
            self._checking = asyncio.create_task(self._check_all())
            self._checking.add_done_callback(self._checked)
        await asyncio.shield(self._checking)
        return self.health()

    async def _check_all(self) -> None:
        await asyncio.gather(*(self.refresh_host(host) for host in self.hosts))

    def _checked(self, task: asyncio.Task[None]) -> None:
        if self._checking is task:
            self._checking = None

    def health(self) -> list[HostHealth]:
        """Each server as last checked (no I/O)."""
        return [host.health() for host in self.hosts]

    async def refresh_host(self, host: InferenceHost) -> None:
        """Ask one server for its pool and the models on its disk."""
        client = host.admin.client
        list_models = not host.up or host.models is None or host.checks % LIST_MODELS_EVERY == 0
        host.checks += 1
        try:
            pool_answer, models_answer = await asyncio.gather(
                client.get("/admin/pool", timeout=CHECK_TIMEOUT_S),
                client.get("/v1/models", timeout=CHECK_TIMEOUT_S * 2) if list_models else _none(),
                return_exceptions=True,
            )
            if isinstance(pool_answer, BaseException):
                raise pool_answer
            pool_answer.raise_for_status()
            pool = PoolStatus.model_validate_json(pool_answer.content)
        except (httpx.HTTPError, ValidationError) as exc:
            self._failed(host, f"{type(exc).__name__}: {exc}"[:300])
            return
        models: frozenset[str] | None = None
        if isinstance(models_answer, httpx.Response) and models_answer.status_code == 200:
            with contextlib.suppress(ValidationError):
                listed = ModelList.model_validate_json(models_answer.content)
                models = frozenset(card.id for card in listed.data)
        was_down = not host.up
        host.up = True
        host.failures = 0
        host.error = None
        host.checked_at = time.time()
        host.learned(pool, models)
        if was_down:
            logger.info("inference server %s answers again", host.url)
        if was_down or host.capabilities is None:  # a new process may be another version
            try:
                self._learned(host, await host.admin.capabilities())
            except ServiceError as exc:
                host.error = exc.message  # asked again at the next check

    def _learned(self, host: InferenceHost, capabilities: InferenceCapabilities) -> None:
        mismatches = tuple(
            folder_mismatches(
                hf_cache=self.settings.hub_cache,
                models=self.settings.local_models_dir,
                inference_hf_cache=Path(capabilities.hf_cache_dir),
                inference_models=[Path(p) for p in capabilities.models_dirs],
            )
        )
        if mismatches and mismatches != host.mismatches:
            logger.warning(
                "storage mismatch: the inference server at %s does not read the manager's "
                "folders: %s",
                host.url,
                "; ".join(m.message for m in mismatches),
            )
        host.mismatches = mismatches
        if host.model_types is None or set(capabilities.model_types) != host.model_types:
            host.model_types = frozenset(capabilities.model_types)
        host.capabilities = capabilities

    def _failed(self, host: InferenceHost, error: str) -> None:
        host.failures += 1
        host.error = error
        host.checked_at = time.time()
        if host.up and host.failures >= self.settings.inference_down_after:
            host.up = False
            logger.warning("inference server %s is down: %s", host.url, error)

    def mark_failed(self, host: InferenceHost, reason: str) -> None:
        """The proxy could not connect to it: down now, until it answers a check."""
        host.failures = max(host.failures, self.settings.inference_down_after - 1)
        self._failed(host, f"connection failed: {reason}")

    # ---- routing ------------------------------------------------------------------------------

    def views(self) -> list[HostView]:
        return [host.view() for host in self.hosts]

    def route(self, model_id: str | None, exclude: tuple[str, ...] = ()) -> Route | NoRoute:
        return choose_host(
            model_id,
            self.views(),
            pins=self.pins,
            model_bytes=self.sizes.get(model_id) if model_id else None,
            exclude=exclude,
        )

    def host(self, url: str) -> InferenceHost:
        host = self.by_url.get(url.rstrip("/"))
        if host is None:
            raise NotFoundError(
                f"'{url[:200]}' is not one of the inference servers",
                code="host_not_found",
                param="host",
                details={"hosts": list(self.by_url)},
                resolution_steps=["Use one of the URLs in GET /api/inference/pool (hosts)."],
            )
        return host

    def _routed(self, model_id: str) -> InferenceHost:
        choice = self.route(model_id)
        if isinstance(choice, NoRoute):
            raise no_route_error(choice, model_id)
        return self.by_url[choice.url]

    # ---- admin --------------------------------------------------------------------------------

    async def load(
        self, model_id: str, request: LoadRequest | None, host_url: str | None
    ) -> LoadResult:
        """Load on ``host_url``, or where a request for the model would be routed."""
        host = self.host(host_url) if host_url else self._routed(model_id)
        try:
            result = await host.admin.load(model_id, request)
        finally:
            await self.refresh_host(host)
        return result.model_copy(update={"slot": result.slot.model_copy(update={"host": host.url})})

    async def unload(self, model_id: str, host_url: str | None) -> UnloadResult:
        """Unload from ``host_url``, or from every server that has the model loaded."""
        if host_url:
            hosts = [self.host(host_url)]
        else:
            hosts = [h for h in self.hosts if h.up and model_id in h.view().slots]
        unloaded = False
        for host in hosts:
            try:
                unloaded = (await host.admin.unload(model_id)).unloaded or unloaded
            finally:
                await self.refresh_host(host)
        return UnloadResult(id=model_id, unloaded=unloaded)

    def pool_status(self) -> InferencePool:
        up = [h for h in self.hosts if h.up and h.pool is not None]
        pools = [h.pool for h in up if h.pool is not None]
        return InferencePool(
            slots=[
                slot.model_copy(update={"host": host.url})
                for host in up
                if host.pool is not None
                for slot in host.pool.slots
            ],
            max_memory_bytes=sum(p.max_memory_bytes for p in pools),
            max_models=sum(p.max_models for p in pools),
            used_memory_bytes=sum(p.used_memory_bytes for p in pools),
            active_memory_bytes=sum(p.active_memory_bytes for p in pools),
            total_loads=sum(p.total_loads for p in pools),
            total_evictions=sum(p.total_evictions for p in pools),
            cpu_blas=next((p.cpu_blas for p in pools if p.cpu_blas), None),
            hosts=[host.status() for host in self.hosts],
        )

    def pool_view(self) -> PoolView:
        """The merged pool for the library and the catalog (no I/O)."""
        status = self.pool_status()
        answering = [h for h in self.hosts if h.up and h.pool is not None]
        host_slots = {h.url: {s.id: s for s in h.pool.slots} for h in answering if h.pool}
        merged: dict[str, SlotInfo] = {}
        for slot in status.slots:
            best = merged.get(slot.id)
            if best is None or _rank(slot) < _rank(best):
                merged[slot.id] = slot
        return PoolView(
            status=status if answering else None,
            fetched_at=time.monotonic(),
            slots=merged,
            host_slots={h.url: host_slots.get(h.url) for h in self.hosts},
            largest_budget=max((p.max_memory_bytes for p in _pools(answering)), default=None),
        )


async def _none() -> None:
    return None


def _pools(hosts: list[InferenceHost]) -> list[PoolStatus]:
    return [h.pool for h in hosts if h.pool is not None]


_ORDER = ("ready", "loading", "unloading", "failed")


def _rank(slot: SlotInfo) -> int:
    return _ORDER.index(slot.state.value)


def no_route_error(choice: NoRoute, model_id: str | None) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        choice.message,
        headers={"Retry-After": str(choice.retry_after_s)},
        details={"model": model_id},
        resolution_steps=[
            "Retry in a moment: an inference server that is down is checked again every "
            "MODEL_MANAGER_INFERENCE_REFRESH_S.",
            "See each server's state in GET /api/inference/pool.",
        ],
    )


class FleetPoolState:
    """The library's pool source with several servers: the fleet's views, no I/O."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self.inflight: asyncio.Task[PoolView] | None = None

    def invalidate(self) -> None:
        """Loads and unloads through the fleet refresh their server themselves."""

    async def get(self) -> PoolView:
        return self._fleet.pool_view()
