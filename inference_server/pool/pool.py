"""The model pool: load on demand, single flight, LRU eviction under a budget, pins, TTL.

All decisions (which slot exists, its state, what to evict) are taken on the event loop
under one asyncio lock, so no decision is made on a state read earlier. The MLX work of a
load or an unload runs on the MLX worker; ``/health`` never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, Literal

from inference_server.cpu_blas import CpuBlas
from inference_server.errors import InferenceError, ModelLoadError, PoolBusyError
from inference_server.metrics import InferenceMetrics
from inference_server.pool import loaders
from inference_server.pool.eviction import SlotView, choose_victims, expired
from inference_server.pool.kinds import ModelKind
from inference_server.pool.precision import estimated_bytes, upcast_to_float32
from inference_server.pool.resolve import ResolvedModel, resolve_model
from inference_server.pool.slot import Slot
from inference_server.runtime.models import on_cpu_backend
from inference_server.runtime.worker import MLXWorker
from shared_schemas.pool import PoolStatus, SlotState

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5


class ModelPool:
    def __init__(
        self,
        worker: MLXWorker,
        *,
        cache_dir: Path,
        models_dirs: list[Path],
        max_memory_bytes: int,
        max_models: int,
        idle_ttl_s: float = 0.0,
        cpu_float32: Literal["auto"] | bool = "auto",
        cpu_blas: CpuBlas | None = None,
        metrics: InferenceMetrics | None = None,
    ) -> None:
        self._metrics = metrics or InferenceMetrics()
        self._worker = worker
        self._cache_dir = cache_dir
        self._models_dirs = models_dirs
        self.max_memory_bytes = max_memory_bytes
        self.max_models = max_models
        self.idle_ttl_s = idle_ttl_s
        self.cpu_float32 = cpu_float32
        self.cpu_blas = cpu_blas
        self._cpu_backend: bool | None = None
        self._slots: dict[str, Slot] = {}
        self._lock = asyncio.Lock()
        self._load_counts: dict[str, int] = {}
        self.total_loads = 0
        self.total_evictions = 0
        self._background: set[asyncio.Task[Any]] = set()

    # ---- queries ------------------------------------------------------------------------
    def status(self) -> PoolStatus:
        import mlx.core as mx

        slots = [s.info() for s in self._slots.values()]
        return PoolStatus(
            slots=slots,
            max_memory_bytes=self.max_memory_bytes,
            max_models=self.max_models,
            used_memory_bytes=sum(s.accounted_bytes for s in self._slots.values()),
            active_memory_bytes=int(mx.get_active_memory()),
            total_loads=self.total_loads,
            total_evictions=self.total_evictions,
            cpu_blas=self.cpu_blas.path if self.cpu_blas else None,
        )

    def state_of(self, model_id: str) -> SlotState | None:
        slot = self._slots.get(model_id)
        return slot.state if slot else None

    def resolve(self, model_id: str) -> ResolvedModel:
        return resolve_model(model_id, self._cache_dir, self._models_dirs)

    async def kind_of(self, model_id: str) -> ModelKind:
        """The kind of a model (chat, embedding, vision): from its slot, else from disk."""
        slot = self._slots.get(model_id)
        if slot is not None:
            return slot.kind
        return (await asyncio.to_thread(self.resolve, model_id)).kind

    # ---- using a model --------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def use(self, model_id: str, *, keep_alive: float | None = None) -> AsyncIterator[Slot]:
        """Hold a ready model for one request; it cannot be evicted meanwhile."""
        slot = await self.ensure_ready(model_id, hold=True)
        active = self._metrics.active.labels(model_id)
        active.inc()
        try:
            yield slot
        finally:
            active.dec()
            slot.active -= 1
            slot.last_used = time.time()
            if keep_alive is not None:
                slot.keep_alive_until = slot.last_used + keep_alive
                if keep_alive <= 0 and slot.idle and not slot.pinned:
                    self._spawn(self.unload(model_id, only_if_idle=True))

    async def ensure_ready(self, model_id: str, *, pin: bool = False, hold: bool = False) -> Slot:
        """Load ``model_id`` if needed (one load however many ask) and wait until it is ready.

        With ``hold`` the caller counts as an active user when this returns.
        """
        while True:
            async with self._lock:
                slot = self._slots.get(model_id)
                if slot is None:
                    resolved = await asyncio.to_thread(self.resolve, model_id)
                    float32 = self._upcast(resolved)
                    await self._make_room(estimated_bytes(resolved.weight_bytes, upcast=float32))
                    slot = self._new_slot(resolved, float32=float32)
                if slot.state == SlotState.UNLOADING:
                    pending = slot
                else:
                    pending = None
                    if pin:
                        slot.pinned = True
                    slot.waiting += 1
            if pending is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pending.ready)
                await asyncio.sleep(0.01)
                continue
            try:
                await asyncio.shield(slot.ready)
            finally:
                slot.waiting -= 1
            if slot.state != SlotState.READY:
                continue
            slot.last_used = time.time()
            if hold:
                slot.active += 1
            return slot

    def _upcast(self, resolved: ResolvedModel) -> bool:
        if self._cpu_backend is None:
            self._cpu_backend = on_cpu_backend()
        return upcast_to_float32(
            resolved.config,
            resolved.weight_bytes,
            mode=self.cpu_float32,
            cpu_backend=self._cpu_backend,
            fast_blas=self.cpu_blas is not None,
            budget_bytes=self.max_memory_bytes,
        )

    def _new_slot(self, resolved: ResolvedModel, *, float32: bool) -> Slot:
        loop = asyncio.get_running_loop()
        slot = Slot(
            id=resolved.id,
            path=str(resolved.path),
            estimated_bytes=estimated_bytes(resolved.weight_bytes, upcast=float32),
            context_length=resolved.context_length,
            ready=loop.create_future(),
            float32=float32,
            kind=resolved.kind,
        )
        self._slots[resolved.id] = slot
        self._spawn(self._load(slot))
        return slot

    async def _load(self, slot: Slot) -> None:
        started = time.perf_counter()
        try:
            runtime, used = await self._worker.call(
                lambda: loaders.load(
                    self._worker, slot.kind, slot.id, slot.path, float32=slot.float32
                )
            )
        except Exception as exc:
            logger.warning("loading %s failed: %s", slot.id, exc)
            self._metrics.load_failures.labels(slot.id).inc()
            async with self._lock:
                slot.state = SlotState.FAILED
                slot.error = str(exc)
                self._slots.pop(slot.id, None)
            error = (
                exc
                if isinstance(exc, InferenceError)
                else ModelLoadError(f"loading {slot.id} failed: {exc}")
            )
            slot.ready.set_exception(error)
            slot.ready.exception()  # retrieved: waiters re-raise it; none is fine too
            return
        slot.runtime = runtime
        slot.memory_bytes = int(used) or slot.estimated_bytes
        slot.load_time_s = time.perf_counter() - started
        slot.loaded_at = time.time()
        self._load_counts[slot.id] = self._load_counts.get(slot.id, 0) + 1
        slot.load_count = self._load_counts[slot.id]
        self.total_loads += 1
        self._metrics.loads.labels(slot.id).inc()
        self._metrics.load_seconds.observe(slot.load_time_s)
        self._metrics.memory.labels(slot.id).set(slot.memory_bytes)
        slot.state = SlotState.READY
        slot.ready.set_result(None)
        logger.info("loaded %s in %.2fs (%d MiB)", slot.id, slot.load_time_s, used // 2**20)

    async def _make_room(self, needed: int) -> None:
        """Evict idle models (LRU) until ``needed`` bytes fit; 503 if they never will."""
        views = [
            SlotView(
                id=s.id,
                memory_bytes=s.accounted_bytes,
                last_used=s.last_used,
                evictable=s.state == SlotState.READY and s.idle and not s.pinned,
            )
            for s in self._slots.values()
        ]
        victims = choose_victims(
            needed, views, budget_bytes=self.max_memory_bytes, max_models=self.max_models
        )
        if victims is None:
            raise PoolBusyError(
                "no room for this model: every loaded model is busy or pinned, "
                "or the model is larger than the memory budget",
                details={
                    "needed_bytes": needed,
                    "budget_bytes": self.max_memory_bytes,
                    "max_models": self.max_models,
                },
                resolution_steps=[
                    "Retry when current requests finish.",
                    "Raise MLX_SERVER_MAX_MEMORY_GB or MLX_SERVER_MAX_MODELS.",
                ],
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        for victim in victims:
            self.total_evictions += 1
            self._metrics.evictions.labels(victim).inc()
            await self._unload_locked(self._slots[victim])

    # ---- unloading ------------------------------------------------------------------------
    async def unload(self, model_id: str, *, only_if_idle: bool = False) -> bool:
        async with self._lock:
            slot = self._slots.get(model_id)
            if slot is None or slot.state != SlotState.READY:
                return False
            if only_if_idle and (not slot.idle or slot.pinned):
                return False
            await self._unload_locked(slot)
            return True

    async def _unload_locked(self, slot: Slot) -> None:
        slot.state = SlotState.UNLOADING
        started, freed = time.perf_counter(), slot.memory_bytes
        slot.ready = asyncio.get_running_loop().create_future()
        held = [slot.runtime]
        slot.runtime = None  # the worker must drop the last reference so memory is freed
        try:
            await self._worker.call(lambda: loaders.release(self._worker, slot.id, held))
        finally:
            self._slots.pop(slot.id, None)
            slot.ready.set_result(None)
            self._metrics.unloads.labels(slot.id).inc()
            with contextlib.suppress(KeyError):
                self._metrics.memory.remove(slot.id)
        elapsed = time.perf_counter() - started
        logger.info("unloaded %s in %.2fs (%d MiB freed)", slot.id, elapsed, freed // 2**20)

    async def reap_idle(self, now: float | None = None) -> list[str]:
        """Unload idle, unpinned models whose TTL or keep-alive ran out."""
        now = time.time() if now is None else now
        due = [
            s.id
            for s in list(self._slots.values())
            if s.state == SlotState.READY
            and s.idle
            and not s.pinned
            and expired(
                s.last_used, now, idle_ttl_s=self.idle_ttl_s, keep_alive_until=s.keep_alive_until
            )
        ]
        done = []
        for model_id in due:
            if await self.unload(model_id, only_if_idle=True):
                done.append(model_id)
        return done

    async def run_reaper(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reap_idle()
            except Exception:
                logger.exception("idle reaper failed")

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for slot in list(self._slots.values()):
            if slot.state == SlotState.READY:
                with contextlib.suppress(Exception):
                    await self.unload(slot.id)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
