"""The Hub service the routes call: search, details, variants, characteristics.

Built in the app's lifespan (``async with HubService(settings, metrics)``) and reached through
``HubDep``. Every Hub answer goes through one :class:`~manager.hub.cache.TTLCache`: a second
identical call within ``hub_cache_ttl_s`` makes no Hub request, concurrent identical calls make
one, and when the Hub is unavailable an expired answer is served with ``stale: true``. Calls that
fan out (configs of a search page, the repositories of a variants list) run at most
``hub_concurrency`` Hub requests at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from types import TracebackType
from typing import Any, Literal, TypeVar

from manager.characteristics import extract_characteristics
from manager.errors import (
    HubAccessDeniedError,
    HubModelNotFoundError,
    HubResponseError,
    HubUnavailableError,
    ManagerError,
    NotFoundError,
)
from manager.hub.cache import Cached, TTLCache
from manager.hub.card import card_body
from manager.hub.client import FileNotOnHub, HubClient
from manager.hub.details import ConfigRead, build_details, has_file, parse_config
from manager.hub.errors import access_denied
from manager.hub.ids import parse_hub_id, parse_model_id
from manager.hub.local_config import read_local_config
from manager.hub.schemas import (
    HubModelCard,
    HubModelDetails,
    HubSearchPage,
    HubVariant,
    HubVariants,
    ModelConfigInfo,
    VariantFormat,
)
from manager.hub.search import SearchQuery, decode_cursor, encode_cursor, hub_query, search_result
from manager.hub.variants import name_query, rank, variants_of, variants_query
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings

T = TypeVar("T")

MAX_CONFIG_BYTES = 4 * 2**20
MAX_README_BYTES = 256 * 2**10


class HubService:
    def __init__(self, settings: ManagerSettings, metrics: ManagerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.endpoint = settings.hub_endpoint
        self.client = HubClient(
            self.endpoint,
            settings.hub_token(),
            timeout_s=settings.hub_timeout_s,
            metrics=metrics,
        )
        self.cache: TTLCache[Any] = TTLCache(
            ttl_s=settings.hub_cache_ttl_s, max_entries=settings.hub_cache_max_entries
        )

    async def __aenter__(self) -> HubService:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cache.aclose()
        await self.client.__aexit__(exc_type, exc, tb)

    # ---- cached Hub calls ---------------------------------------------------------------------

    async def _cached(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> Cached[T]:
        result: Cached[T] = await self.cache.get(key, load, stale_on=(HubUnavailableError,))
        if result.hit:
            self.metrics.hub_cache_hits.inc()
        return result

    async def _listing(self, query: list[tuple[str, str]]) -> Cached[tuple[list[Any], str]]:
        return await self._cached(("list", tuple(query)), lambda: self.client.list_models(query))

    async def _info(self, repo_id: str) -> Cached[dict[str, Any]]:
        return await self._cached(
            ("info", repo_id), lambda: self.client.model_info(repo_id, blobs=True)
        )

    async def _config(self, repo_id: str, revision: str) -> Cached[ConfigRead]:
        async def load() -> ConfigRead:
            try:
                data, commit = await self.client.read_file(
                    repo_id, revision, "config.json", max_bytes=MAX_CONFIG_BYTES
                )
            except FileNotOnHub:
                return ConfigRead("missing")
            except HubAccessDeniedError:
                return ConfigRead("gated")
            return parse_config(data, commit or revision)

        return await self._cached(("config", repo_id, revision), load)

    async def _readme(self, repo_id: str, revision: str) -> str | None:
        async def load() -> str | None:
            try:
                data, _ = await self.client.read_file(
                    repo_id, revision, "README.md", max_bytes=MAX_README_BYTES
                )
            except FileNotOnHub:
                return None
            return data.decode("utf-8", errors="replace")

        try:
            return (await self._cached(("readme", repo_id, revision), load)).value
        except ManagerError:
            return None  # the card is a nicety: details stand without it

    async def _bounded(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        semaphore = asyncio.Semaphore(self.settings.hub_concurrency)

        async def one(call: Awaitable[T]) -> T:
            async with semaphore:
                return await call

        return list(await asyncio.gather(*(one(call) for call in calls)))

    # ---- what the routes call -----------------------------------------------------------------

    async def search(
        self, query: SearchQuery, *, cursor: str | None = None, configs: bool = False
    ) -> HubSearchPage:
        params = decode_cursor(cursor) if cursor else hub_query(query)
        page = await self._cached(
            ("search", tuple(params), configs), lambda: self._search_page(params, configs)
        )
        return page.value.model_copy(update={"stale": True}) if page.stale else page.value

    async def _search_page(self, params: list[tuple[str, str]], configs: bool) -> HubSearchPage:
        items, next_url = await self.client.list_models(params)
        fulls: list[dict[str, Any] | None] = [None] * len(items)
        stale = False
        if configs:
            reads = await self._bounded(self._page_config(item) for item in items)
            fulls = [read.value.value if read else None for read in reads]
            stale = any(read.stale for read in reads if read)
        return HubSearchPage(
            results=[search_result(item, full) for item, full in zip(items, fulls, strict=True)],
            next_cursor=encode_cursor(next_url),
            stale=stale,
        )

    async def _page_config(self, item: dict[str, Any]) -> Cached[ConfigRead] | None:
        sha = item.get("sha")
        try:
            return await self._config(str(item["id"]), sha if isinstance(sha, str) else "main")
        except ManagerError:
            return None  # the listing's config stands in

    async def details(self, model_id: str, *, card: bool = True) -> HubModelDetails:
        """A repository's files, characteristics and badges; ``card=False`` leaves out the
        model card's summary (one Hub request fewer, for callers that only judge the files
        and the config, such as the compatibility verdict)."""
        repo_id = str(parse_hub_id(model_id))
        info = await self._info(repo_id)
        canonical = str(info.value["id"])
        sha = info.value.get("sha")
        revision = sha if isinstance(sha, str) and sha else "main"
        wants_config = has_file(info.value, "config.json") is not False
        wants_readme = card and has_file(info.value, "README.md") is not False
        config_task = self._config(canonical, revision) if wants_config else None
        config, readme = await asyncio.gather(
            config_task or _done(Cached(ConfigRead("missing"), hit=True)),
            self._readme(canonical, revision) if wants_readme else _done(None),
        )
        return build_details(info.value, config.value, readme, stale=info.stale or config.stale)

    async def card(self, model_id: str) -> HubModelCard:
        repo_id = str(parse_hub_id(model_id))
        info = await self._info(repo_id)
        canonical = str(info.value["id"])
        sha = info.value.get("sha")
        revision = sha if isinstance(sha, str) and sha else "main"
        has_readme = has_file(info.value, "README.md") is not False
        readme = await self._readme(canonical, revision) if has_readme else None
        return HubModelCard(
            id=canonical,
            sha=sha if isinstance(sha, str) and sha else None,
            markdown=card_body(readme) if readme is not None else None,
            stale=info.stale,
        )

    async def variants(
        self, model_id: str, fmt: VariantFormat | None, *, limit: int = 30
    ) -> HubVariants:
        base = str(parse_hub_id(model_id))
        info = await self._info(base)
        canonical = str(info.value["id"])
        formats: list[VariantFormat] = [fmt] if fmt else ["mlx", "gguf"]
        listings = await asyncio.gather(
            *(self._listing(variants_query(canonical, f, limit)) for f in formats)
        )
        match: Literal["base_model", "name"] = "base_model"
        if not any(listing.value[0] for listing in listings):
            match = "name"
            listings = await asyncio.gather(
                *(self._listing(name_query(canonical, f, limit)) for f in formats)
            )
        found: list[tuple[dict[str, Any], VariantFormat]] = []
        for f, listing in zip(formats, listings, strict=True):
            found.extend((item, f) for item in listing.value[0] if item["id"] != canonical)
        infos = await self._bounded(self._variant_info(str(item["id"])) for item, _ in found)
        variants: list[HubVariant] = []
        for (item, f), repo in zip(found, infos, strict=True):
            variants.extend(variants_of(item, repo.value if repo else None, f))
        stale = info.stale or any(listing.stale for listing in listings)
        stale = stale or any(repo.stale for repo in infos if repo)
        return HubVariants(
            base_model=canonical,
            format=fmt,
            match=match,
            variants=rank(variants),
            stale=stale,
        )

    async def _variant_info(self, repo_id: str) -> Cached[dict[str, Any]] | None:
        try:
            return await self._info(repo_id)
        except ManagerError:
            return None  # listed without files or sizes

    async def model_config(self, model_id: str) -> ModelConfigInfo:
        parsed = parse_model_id(model_id)
        local = await asyncio.to_thread(
            read_local_config,
            parsed,
            hub_cache=self.settings.hub_cache,
            models_dir=self.settings.local_models_dir,
        )
        if local is not None:
            return ModelConfigInfo(
                model_id=str(parsed),
                source="local",
                revision=local.revision,
                characteristics=extract_characteristics(local.config),
            )
        if parsed.is_local:
            raise NotFoundError(
                f"no local model {str(parsed)!r}",
                code="model_not_found",
                details={"model_id": str(parsed)},
                resolution_steps=["Import the folder first (POST /api/models/import)."],
            )
        read = await self._config(str(parsed), "main")
        result = read.value
        if result.status == "missing":
            raise HubModelNotFoundError(
                f"model {str(parsed)!r} has no config.json on the Hub",
                details={"model_id": str(parsed)},
            )
        if result.status == "gated":
            raise access_denied(self.endpoint, str(parsed))
        if result.value is None:
            raise HubResponseError(
                f"the config.json of {str(parsed)!r} is not a JSON object",
                details={"model_id": str(parsed)},
            )
        return ModelConfigInfo(
            model_id=str(parsed),
            source="hub",
            revision=result.revision,
            characteristics=extract_characteristics(result.value),
            stale=read.stale,
        )


async def _done(value: T) -> T:
    return value
