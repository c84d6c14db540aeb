"""The library service the routes and the catalog call: scan, registry, pool state, actions.

Built in the app's lifespan (``async with Library(...)``) and reached through ``LibraryDep``.
Every read scans the disk (cheap when nothing changed, see ``scan.py``) in a thread and
fetches the pool state (short timeout, see ``pool_state.py``) at the same time. The registry
is mirrored in memory: read once at start, written through when the disk or a model's use
changes, so an unchanged library costs no database round trip. When the database is down
the library still answers from the disk, without added / last-used times.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

import psutil
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from manager.database import session_scope
from manager.downloads.retry import BackoffWait
from manager.downloads.schemas import DownloadRequest
from manager.errors import (
    ConflictError,
    DatabaseUnavailableError,
    HubUnavailableError,
    ModelNotFoundError,
    ModelNotVisibleError,
    NotFoundError,
    ServiceUnavailableError,
)
from manager.fleet.fleet import Fleet, FleetPoolState
from manager.fleet.health import HostHealth
from manager.fleet.schemas import HostStatus, InferencePool
from manager.fleet.verdicts import assess_on_hosts, verdict_hosts
from manager.hub.schemas import HubModelDetails
from manager.inference_client import InferenceClient, UpstreamAnswer
from manager.inference_watch import InferenceView, InferenceWatch
from manager.library import queries
from manager.library.catalog import build_catalog, default_ids
from manager.library.compatibility import (
    CompatibilityFacts,
    architecture_supported,
    head_dim_of,
    images_served,
    summary,
)
from manager.library.delete import execute_delete, plan_delete
from manager.library.formats import model_format, weight_files
from manager.library.importer import import_model
from manager.library.model_capabilities import Capabilities, ModelCapabilities
from manager.library.paths import is_local_id, validate_model_id
from manager.library.pool_state import PoolSource, PoolStateCache, PoolView
from manager.library.queries import LibraryQuery, RecordView
from manager.library.scan import LibraryScanner, ScannedModel
from manager.library.schemas import (
    CleanupResult,
    CompatibilityReport,
    CompatibilitySummary,
    DeleteResult,
    ImportedModel,
    ImportRequest,
    LocalModel,
    LocalModelList,
    StorageStats,
)
from manager.library.servable import check_download, listed_for_serving, requested_paths
from manager.library.snapshot import LibrarySnapshot, RenderCache
from manager.library.static_catalog import StaticCatalog
from manager.library.storage import cleanup, find_loose_files, storage_stats
from manager.library.visibility import is_model_not_found, not_visible_error
from manager.settings import ManagerSettings
from shared_schemas.characteristics import ModelCharacteristics
from shared_schemas.errors import ErrorBody
from shared_schemas.openai import ModelCard
from shared_schemas.pool import LoadRequest, LoadResult, UnloadResult

logger = logging.getLogger(__name__)

_SUMMARY_CACHE_MAX = 4096
T = TypeVar("T")


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
        self.physical_memory = int(psutil.virtual_memory().total)
        self._inference = inference
        self._sessions = sessions
        self._records: dict[str, RecordView] | None = None
        self._sync_lock = asyncio.Lock()
        self._summaries: dict[tuple[Any, ...], CompatibilitySummary] = {}
        self.rendered_local: RenderCache[LocalModel] = RenderCache()
        self.rendered_cards: RenderCache[ModelCard] = RenderCache()
        self._warm: asyncio.Task[None] | None = None

    # ---- lifetime -----------------------------------------------------------------------------

    async def __aenter__(self) -> Library:
        await asyncio.to_thread(self.static.load)  # a broken catalog file stops the start
        await self._load_records()
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

    async def _load_records(self) -> bool:
        try:
            async with session_scope(self._sessions) as session:
                records = await queries.load_records(session)
                known = await queries.load_characteristics(session)
        except DatabaseUnavailableError as exc:
            logger.warning("library registry unavailable: %s", exc.message)
            return False
        self.scanner.seed(known)
        self._records = records
        return True

    # ---- reading ------------------------------------------------------------------------------

    async def snapshot(self) -> LibrarySnapshot:
        models, pool = await asyncio.gather(asyncio.to_thread(self.scanner.scan), self.pool.get())
        records = await self._sync(models, pool)
        return LibrarySnapshot(models=models, records=records, pool=pool)

    async def _sync(self, models: list[ScannedModel], pool: PoolView) -> dict[str, RecordView]:
        """The registry, brought in line with the disk and the pool's last-used times."""
        async with self._sync_lock:
            if self._records is None and not await self._load_records():
                return {}
            assert self._records is not None
            records = self._records
            on_disk = {m.id: m for m in models}
            stale = len(records) != len(on_disk) or any(
                m.id not in records or records[m.id].config_hash != m.config_hash for m in models
            )
            used = {
                slot.id: slot.last_used
                for slot in pool.slots.values()
                if slot.last_used is not None
                and slot.id in records
                and (records[slot.id].last_used_at or 0) < slot.last_used - 1
            }
            if not stale and not used:
                return records
            try:
                async with session_scope(self._sessions) as session:
                    if stale:
                        await queries.sync_records(session, models, records, time.time())
                    if used:
                        await queries.set_last_used(session, used)
                    self._records = await queries.load_records(session)
            except DatabaseUnavailableError as exc:
                logger.warning("library registry not updated: %s", exc.message)
            return self._records

    async def _write(self, action: Any) -> None:
        """Run ``action(session)`` on the registry and refresh the mirror; a database that is
        down is logged, not raised: the disk already holds the change."""
        async with self._sync_lock:
            try:
                async with session_scope(self._sessions) as session:
                    await action(session)
                    self._records = await queries.load_records(session)
            except DatabaseUnavailableError as exc:
                logger.warning("library registry not updated: %s", exc.message)

    def _context_tokens(self, model: ScannedModel, requested: int | None) -> int:
        default = self.settings.compatibility_context_tokens
        if requested is not None:
            return requested
        return min(model.characteristics.context_length or default, default)

    def _inference_view(self) -> InferenceView:
        """What the inference server said it can load (``/admin/capabilities``)."""
        return self.watch.view if self.watch is not None else InferenceView()

    def _verdict_hosts(self) -> tuple[HostHealth, ...]:
        """With several inference servers, those a verdict is made over (empty with one)."""
        return verdict_hosts(self.fleet.health()) if self.fleet is not None else ()

    def _assess(self, facts: CompatibilityFacts) -> CompatibilityReport:
        """The verdict: on the inference server, or on the best of several."""
        return assess_on_hosts(facts, self._verdict_hosts())

    def _facts(
        self, model: ScannedModel, budget: int | None, context: int | None = None
    ) -> CompatibilityFacts:
        ch = model.characteristics
        view = self._inference_view()
        return CompatibilityFacts(
            model_id=model.id,
            local=True,
            source=model.source,
            format=model.format,
            weights=model.weights,
            characteristics=ch,
            architecture_supported=(
                architecture_supported(ch.model_type, view.model_types)
                if model.weights != "gguf"
                else None
            ),
            weight_bytes=model.weight_bytes,
            head_dim=head_dim_of(model.config, ch),
            context_tokens=self._context_tokens(model, context),
            budget_bytes=budget,
            physical_memory_bytes=self.physical_memory,
            model_types_stale=view.stale,
            images_served=images_served(
                ch, view.capabilities.vision_model_types if view.capabilities else None
            ),
        )

    def _summary(self, model: ScannedModel, budget: int | None) -> CompatibilitySummary:
        view = self._inference_view()
        key = (
            model.id,
            model.config_hash,
            model.weights,
            model.format,
            model.weight_bytes,
            budget,
            view.model_types,
            view.stale,
            tuple((h.url, h.model_types, h.budget_bytes, h.serving) for h in self._verdict_hosts()),
        )
        found = self._summaries.get(key)
        if found is None:
            if len(self._summaries) >= _SUMMARY_CACHE_MAX:
                self._summaries.clear()
            found = summary(self._assess(self._facts(model, budget)))
            self._summaries[key] = found
        return found

    def local_model(self, model: ScannedModel, snap: LibrarySnapshot) -> LocalModel:
        record = snap.records.get(model.id)
        state = snap.pool.state_of(model.id)
        compatibility = self._summary(model, snap.pool.budget_bytes)

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
                self._facts, model, snap.pool.budget_bytes, context_tokens
            )
            return self._assess(facts)
        details: HubModelDetails = await hub.details(model_id, card=False)
        pool = await self.pool.get()
        return self._assess(self._hub_facts(details, pool.budget_bytes, context_tokens))

    async def download_check(self, request: DownloadRequest, hub: Any) -> ErrorBody | None:
        """Before a download job is made: None when the model runs here, its warning when
        the request forces a verdict other than ``runs``, 409 ``model_not_servable``
        otherwise. Judged from the Hub's description of the repository (its current
        commit), narrowed to the files the request can fetch. Not judged here: a request
        that matches no file (the download plan answers that), and a gated repository whose
        config cannot be read without access (the download fails at once, saying how to get
        access; with access, the config is read and judged)."""
        details = await self._hub_details(hub, request.model_id)
        paths = requested_paths(
            (f.path for f in details.files), request.allow_patterns, request.format
        )
        if not paths or details.config_status == "gated":
            return None
        pool = await self.pool.get()
        facts = self._hub_facts(details, pool.budget_bytes, None, set(paths))
        return check_download(self._assess(facts), force=request.force)

    async def _hub_details(self, hub: Any, model_id: str) -> HubModelDetails:
        """The Hub's description, with the download planner's retries when the Hub is
        unavailable for a moment (a download request is retried as a whole, not refused)."""
        s = self.settings
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(HubUnavailableError),
            stop=stop_after_attempt(s.download_retries + 1),
            wait=BackoffWait(s.download_backoff_s, s.download_backoff_max_s),
            reraise=True,
        ):
            with attempt:
                details: HubModelDetails = await hub.details(model_id, card=False)
                return details
        raise AssertionError("unreachable")  # pragma: no cover

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
            if listed_for_serving(self._summary(m, budget), snap.pool.state_of(m.id))
        ]
        return replace(snap, models=models) if len(models) < len(snap.models) else snap

    async def capabilities(self, snap: LibrarySnapshot) -> Capabilities | None:
        """What the inference server says each model of ``snap`` can be asked for; None when
        it cannot be asked (see ``model_capabilities.py``)."""
        if not snap.pool.reachable:
            return None
        ids = frozenset(m.id for m in snap.models) | frozenset(snap.pool.slots)
        return await self.model_capabilities.get(ids)

    def _hub_facts(
        self,
        details: HubModelDetails,
        budget: int | None,
        context: int | None,
        paths: set[str] | None = None,
    ) -> CompatibilityFacts:
        """Facts from the Hub's description; ``paths``: only these files are fetched."""
        ch = details.characteristics or ModelCharacteristics()
        sizes = {f.path: f.size for f in details.files if paths is None or f.path in paths}
        weights, names = weight_files(sizes)
        known = [sizes[n] or 0 for n in names]
        weight_bytes = (min(known) if weights == "gguf" else sum(known)) if known else None
        mlx = details.library_name == "mlx" or "mlx" in details.tags
        fmt = model_format(weights, {"quantization": {}} if mlx else None, None)
        default = self.settings.compatibility_context_tokens
        view = self._inference_view()
        return CompatibilityFacts(
            model_id=details.id,
            local=False,
            source="hub",
            format=fmt,
            weights=weights,
            characteristics=ch,
            architecture_supported=(
                architecture_supported(ch.model_type, view.model_types)
                if weights != "gguf"
                else None
            ),
            weight_bytes=weight_bytes or None,
            head_dim=head_dim_of(None, ch),
            context_tokens=context or min(ch.context_length or default, default),
            budget_bytes=budget,
            physical_memory_bytes=self.physical_memory,
            model_types_stale=view.stale,
            images_served=images_served(
                ch, view.capabilities.vision_model_types if view.capabilities else None
            ),
        )

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

        await self._write(record)
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
        if owned is not None and model_id in owned:
            raise ConflictError(
                f"a download of '{model_id}' is in progress",
                code="download_in_progress",
                resolution_steps=["Cancel the download first (DELETE /api/downloads/{id})."],
            )
        kept = await self._kept_on_delete(model_id)
        if dry_run:
            return DeleteResult(
                id=model_id,
                dry_run=True,
                unloaded=None,
                freed_bytes=plan.freed_bytes,
                removed_revisions=list(plan.revisions),
                removed_paths=plan.removed_paths,
                kept_repos=list(plan.kept_repos),
                kept_paths=kept,
            )
        unloaded = await self._unload_before_delete(model_id)
        await asyncio.to_thread(execute_delete, plan)
        self.scanner.forget(model_id)
        self.pool.invalidate()

        async def forget(session: AsyncSession) -> None:
            await queries.delete_record(session, model_id)

        await self._write(forget)
        logger.info("deleted %s (%d bytes freed)", model_id, plan.freed_bytes)
        return DeleteResult(
            id=model_id,
            unloaded=unloaded,
            freed_bytes=plan.freed_bytes,
            removed_revisions=list(plan.revisions),
            removed_paths=plan.removed_paths,
            kept_repos=list(plan.kept_repos),
            kept_paths=kept,
        )

    async def _kept_on_delete(self, model_id: str) -> list[str]:
        """Where an imported model came from: deleting the import leaves that in place."""
        if not is_local_id(model_id):
            return []
        record = (await self.snapshot()).records.get(model_id)
        return [record.import_origin] if record and record.import_origin else []

    async def _unload_before_delete(self, model_id: str) -> bool | None:
        try:
            if self.fleet is not None:
                result = await self.fleet.unload(model_id, None)
            else:
                result = await self._inference.unload(model_id)
        except ServiceUnavailableError:
            return None  # the server is down: nothing is loaded there
        self.pool.invalidate()
        if (await self.pool.get()).state_of(model_id) == "loading":
            raise ConflictError(
                f"'{model_id}' is being loaded by the inference server",
                code="model_loading",
                headers={"Retry-After": "2"},
                resolution_steps=["Retry when the load has finished."],
            )
        return result.unloaded

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
        view = self._inference_view()
        if not view.hidden_sources:
            return None
        snap = await self.snapshot()
        return not_visible_error(next((m for m in snap.models if m.id == model_id), None), view)

    async def pool_status(self) -> InferencePool:
        if self.fleet is not None:
            return self.fleet.pool_status()
        pool = await self._inference.pool()
        host = HostStatus(
            url=self.settings.inference_url,
            up=True,
            pool=pool,
            capabilities=self._inference_view().capabilities,
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
        if self.fleet is not None:
            return await self.fleet.load(model_id, request, host)
        self._one_host(host)
        try:
            result = await self._inference.load(model_id, request)
        except UpstreamAnswer as exc:
            explained = await self.not_visible(model_id) if is_model_not_found(exc.body()) else None
            if explained is not None:
                raise explained from exc
            raise
        finally:
            self.pool.invalidate()
        return result

    async def unload(self, model_id: str, host: str | None = None) -> UnloadResult:
        validate_model_id(model_id)
        if self.fleet is not None:
            return await self.fleet.unload(model_id, host)
        self._one_host(host)
        try:
            result = await self._inference.unload(model_id)
        finally:
            self.pool.invalidate()
        return result
