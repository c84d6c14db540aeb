"""The library service the routes and the catalog call: scan, registry, pool state, actions.

Built in the app's lifespan (``async with Library(...)``) and reached through ``LibraryDep``.
Every read scans the disk (cheap when nothing changed, see ``scan.py``) in a thread and
fetches the pool state (short timeout, see ``pool_state.py``) at the same time, then brings
the registry in line (``registry.py``: mirrored in memory, so an unchanged library costs no
database round trip; when the database is down the library still answers from the disk,
without added / last-used times). The service lists and renders the models and orders the
actions; the verdicts are ``verdicts.py``'s, the disk steps of an import, a delete and a
cleanup ``importer.py``'s, ``delete.py``'s and ``storage.py``'s, and loads and unloads
through the manager ``pool_control.py``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.downloads.schemas import DownloadRequest
from manager.errors import ModelNotFoundError, ModelNotVisibleError
from manager.fleet.fleet import Fleet, FleetPoolState
from manager.fleet.schemas import InferencePool
from manager.inference_client import InferenceClient
from manager.inference_watch import InferenceWatch
from manager.library import queries
from manager.library.catalog import build_catalog, default_ids
from manager.library.delete import (
    delete_result,
    execute_delete,
    plan_delete,
    refuse_while_downloading,
)
from manager.library.importer import import_model
from manager.library.model_capabilities import Capabilities, ModelCapabilities
from manager.library.paths import is_local_id, validate_model_id
from manager.library.pool_control import PoolControl
from manager.library.pool_state import PoolSource, PoolStateCache
from manager.library.queries import LibraryQuery
from manager.library.registry import Registry
from manager.library.scan import LibraryScanner, ScannedModel
from manager.library.schemas import (
    CleanupResult,
    CompatibilityReport,
    DeleteResult,
    ImportedModel,
    ImportRequest,
    LocalModel,
    LocalModelList,
    StorageStats,
)
from manager.library.servable import listed_for_serving
from manager.library.snapshot import LibrarySnapshot, RenderCache
from manager.library.static_catalog import StaticCatalog
from manager.library.storage import cleanup, find_loose_files, storage_stats
from manager.library.verdicts import Verdicts
from manager.library.visibility import not_visible_error
from manager.settings import ManagerSettings
from shared_schemas.errors import ErrorBody
from shared_schemas.openai import ModelCard
from shared_schemas.pool import LoadRequest, LoadResult, UnloadResult

logger = logging.getLogger(__name__)


class Library:
    def __init__(
        self,
        settings: ManagerSettings,
        sessions: async_sessionmaker[AsyncSession],
        inference: InferenceClient,
        watch: InferenceWatch | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        self.settings = settings
        self.watch = watch
        self.fleet = fleet
        self.cache_dir = settings.hub_cache
        self.models_dir = settings.local_models_dir
        self.scanner = LibraryScanner(self.cache_dir, self.models_dir)
        self.pool: PoolSource = (
            FleetPoolState(fleet)
            if fleet is not None
            else PoolStateCache(
                inference,
                timeout_s=settings.catalog_pool_timeout_s,
                ttl_s=settings.catalog_pool_ttl_s,
                retry_s=settings.catalog_pool_retry_s,
            )
        )
        self.model_capabilities = ModelCapabilities(
            inference,
            wait_s=settings.catalog_pool_timeout_s,
            retry_s=settings.catalog_pool_retry_s,
        )
        self.static = StaticCatalog(settings.catalog_file)
        self.registry = Registry(sessions, self.scanner)
        self.verdicts = Verdicts(settings, self.pool, watch, fleet)
        self.pool_control = PoolControl(
            settings, inference, fleet, self.pool, self.verdicts.inference_view, self.not_visible
        )
        self.rendered_local: RenderCache[LocalModel] = RenderCache()
        self.rendered_cards: RenderCache[ModelCard] = RenderCache()
        self._warm: asyncio.Task[None] | None = None

    # ---- lifetime -----------------------------------------------------------------------------

    async def __aenter__(self) -> Library:
        await asyncio.to_thread(self.static.load)  # a broken catalog file stops the start
        await self.registry.load()
        self._warm = asyncio.create_task(self._warm_up())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        inflight = (self._warm, self.pool.inflight, self.model_capabilities.inflight)
        tasks = [t for t in inflight if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _warm_up(self) -> None:
        """Scan once at start (and ask the models' capabilities) so the first request finds
        the caches filled."""
        try:
            await self.capabilities(self.servable(await self.snapshot()))
        except Exception:
            logger.exception("library warm-up scan failed")

    # ---- reading ------------------------------------------------------------------------------

    async def snapshot(self) -> LibrarySnapshot:
        models, pool = await asyncio.gather(asyncio.to_thread(self.scanner.scan), self.pool.get())
        records = await self.registry.sync(models, pool)
        return LibrarySnapshot(models=models, records=records, pool=pool)

    def local_model(self, model: ScannedModel, snap: LibrarySnapshot) -> LocalModel:
        record = snap.records.get(model.id)
        state = snap.pool.state_of(model.id)
        compatibility = self.verdicts.summary(model, snap.pool.budget_bytes)

        def build() -> LocalModel:
            return LocalModel(
                id=model.id,
                source=model.source,
                path=str(model.path),
                revision=model.revision,
                revisions=list(model.revisions),
                size_bytes=model.size_bytes,
                file_count=model.file_count,
                format=model.format,
                weights=model.weights,
                weight_bytes=model.weight_bytes,
                gguf_files=list(model.gguf_files),
                type=model.kind,
                characteristics=model.characteristics,
                badges=model.characteristics.badges,
                compatibility=compatibility,
                state=state,
                added_at=record.added_at if record else None,
                last_used_at=record.last_used_at if record else None,
                import_origin=record.import_origin if record else None,
                import_mode=record.import_mode if record else None,
            )

        return self.rendered_local.get(model.id, (model, record, state, compatibility), build)

    async def list_local(self, query: LibraryQuery) -> LocalModelList:
        snap = await self.snapshot()
        entries = [self.local_model(m, snap) for m in snap.models]
        self.rendered_local.retain({m.id for m in snap.models})
        return LocalModelList(
            data=queries.select_models(entries, query),
            total=len(entries),
            inference_reachable=snap.pool.reachable,
        )

    async def _find(self, model_id: str) -> tuple[ScannedModel, LibrarySnapshot]:
        validate_model_id(model_id)
        snap = await self.snapshot()
        for model in snap.models:
            if model.id == model_id:
                return model, snap
        raise ModelNotFoundError(
            f"The model '{model_id}' is not in the library",
            param="model_id",
            resolution_steps=[
                "List the local models with GET /api/models/local.",
                "Download it (POST /api/downloads) or import it (POST /api/models/import).",
            ],
        )

    async def get_local(self, model_id: str) -> LocalModel:
        model, snap = await self._find(model_id)
        return self.local_model(model, snap)

    # ---- compatibility ------------------------------------------------------------------------

    async def compatibility(
        self, model_id: str, context_tokens: int | None, hub: Any = None
    ) -> CompatibilityReport:
        """For a local model from the disk; for another Hub id from the Hub's description
        (when a Hub service is given)."""
        validate_model_id(model_id)
        try:
            model, snap = await self._find(model_id)
        except ModelNotFoundError:
            if is_local_id(model_id) or hub is None:
                raise
        else:
            facts = await asyncio.to_thread(
                self.verdicts.local_facts, model, snap.pool.budget_bytes, context_tokens
            )
            return self.verdicts.assess(facts)
        return await self.verdicts.of_hub(model_id, context_tokens, hub)

    async def download_check(self, request: DownloadRequest, hub: Any) -> ErrorBody | None:
        """Whether a download request may make a job (``Verdicts.download_check``)."""
        return await self.verdicts.download_check(request, hub)

    async def catalog(self, hidden: frozenset[str]) -> list[ModelCard]:
        """The ``/v1/models`` catalog (``catalog.py``): the servable models, their state and
        capabilities, the configured entries. ``hidden``: the sources whose folder the
        inference server does not read."""
        snap, configured = await asyncio.gather(
            self.snapshot(), asyncio.to_thread(self.static.entries)
        )
        servable = self.servable(snap)
        capabilities = await self.capabilities(servable)
        defaults = default_ids(self.settings)
        return build_catalog(
            servable, configured, defaults, self.rendered_cards, hidden, capabilities
        )

    def servable(self, snap: LibrarySnapshot) -> LibrarySnapshot:
        """``snap`` without the models on disk the inference server cannot load."""
        budget = snap.pool.budget_bytes
        models = [
            m
            for m in snap.models
            if listed_for_serving(self.verdicts.summary(m, budget), snap.pool.state_of(m.id))
        ]
        return replace(snap, models=models) if len(models) < len(snap.models) else snap

    async def capabilities(self, snap: LibrarySnapshot) -> Capabilities | None:
        """What the inference server says each model of ``snap`` can be asked for; None when
        it cannot be asked (see ``model_capabilities.py``)."""
        if not snap.pool.reachable:
            return None
        ids = frozenset(m.id for m in snap.models) | frozenset(snap.pool.slots)
        return await self.model_capabilities.get(ids)

    # ---- changing the library -----------------------------------------------------------------

    async def import_model(self, request: ImportRequest) -> ImportedModel:
        outcome = await asyncio.to_thread(
            import_model,
            request.path,
            request.name,
            request.mode,
            self.models_dir,
            self.cache_dir,
            int(self.settings.disk_reserve_gb * 2**30),
        )
        now = time.time()

        async def record(session: AsyncSession) -> None:
            await queries.record_import(
                session, outcome.model_id, outcome.origin, outcome.mode, now
            )

        await self.registry.write(record)
        logger.info(
            "imported %s from %s (%s, %d entries skipped)",
            outcome.model_id,
            outcome.origin,
            outcome.mode,
            len(outcome.skipped),
        )
        model = await self.get_local(outcome.model_id)
        return ImportedModel(**dict(model), skipped=list(outcome.skipped))

    async def delete(
        self, model_id: str, owned: set[str] | None, *, dry_run: bool = False
    ) -> DeleteResult:
        """Unload, then remove from disk, then forget. Checks come first and touch nothing;
        a dry run stops after them and says what would be removed and what stays."""
        plan = await asyncio.to_thread(plan_delete, model_id, self.cache_dir, self.models_dir)
        refuse_while_downloading(model_id, owned)
        kept = await self._kept_on_delete(model_id)
        if dry_run:
            return delete_result(plan, kept, unloaded=None, dry_run=True)
        unloaded = await self.pool_control.unload_before_delete(model_id)
        await asyncio.to_thread(execute_delete, plan)
        self.scanner.forget(model_id)
        self.pool.invalidate()

        async def forget(session: AsyncSession) -> None:
            await queries.delete_record(session, model_id)

        await self.registry.write(forget)
        logger.info("deleted %s (%d bytes freed)", model_id, plan.freed_bytes)
        return delete_result(plan, kept, unloaded=unloaded, dry_run=False)

    async def _kept_on_delete(self, model_id: str) -> list[str]:
        """Where an imported model came from: deleting the import leaves that in place."""
        if not is_local_id(model_id):
            return []
        record = (await self.snapshot()).records.get(model_id)
        return [record.import_origin] if record and record.import_origin else []

    # ---- storage ------------------------------------------------------------------------------

    async def storage_stats(self, owned: set[str] | None) -> StorageStats:
        def work() -> StorageStats:
            models = self.scanner.scan()
            loose = find_loose_files(
                self.cache_dir, self.models_dir, owned, time.time(), self.settings.cleanup_grace_s
            )
            return storage_stats(models, loose, self.cache_dir, self.models_dir)

        return await asyncio.to_thread(work)

    async def cleanup(self, owned: set[str] | None, *, dry_run: bool) -> CleanupResult:
        def work() -> CleanupResult:
            loose = find_loose_files(
                self.cache_dir, self.models_dir, owned, time.time(), self.settings.cleanup_grace_s
            )
            return cleanup(loose, self.cache_dir, self.models_dir, dry_run=dry_run)

        result = await asyncio.to_thread(work)
        for item in result.removed if not dry_run else []:
            if item.model_id is not None:
                self.scanner.forget(item.model_id)  # its size changed
        if not dry_run and result.removed:
            logger.info(
                "cleanup removed %d loose files (%d bytes)",
                len(result.removed),
                result.freed_bytes,
            )
        return result

    # ---- the inference pool -------------------------------------------------------------------

    async def model_sizes(self) -> dict[str, int]:
        """The size of every model on disk (what routing among servers weighs)."""
        models = await asyncio.to_thread(self.scanner.scan)
        return {model.id: model.size_bytes for model in models}

    async def not_visible(self, model_id: str) -> ModelNotVisibleError | None:
        """Why the inference server does not find ``model_id``, when the reason is that it is
        in this library, in a folder the server does not read (see ``visibility.py``)."""
        view = self.verdicts.inference_view()
        if not view.hidden_sources:
            return None
        snap = await self.snapshot()
        return not_visible_error(next((m for m in snap.models if m.id == model_id), None), view)

    async def pool_status(self) -> InferencePool:
        return await self.pool_control.status()

    async def load(
        self, model_id: str, request: LoadRequest | None, host: str | None = None
    ) -> LoadResult:
        return await self.pool_control.load(model_id, request, host)

    async def unload(self, model_id: str, host: str | None = None) -> UnloadResult:
        return await self.pool_control.unload(model_id, host)
