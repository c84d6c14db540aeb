"""The manager application: ``create_app(settings)`` builds it.

Run with ``uvicorn manager.app:create_app --factory`` or ``python -m manager``. The database
engine, the shared HTTP client to the inference server and the background services are built
in the lifespan and hung on ``app.state``; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from manager.database import (
    SchemaStatus,
    init_schema,
    keep_trying_schema,
    make_engine,
    make_sessionmaker,
)
from manager.downloads.jobs import DownloadManager
from manager.downloads.routes import router as downloads_router
from manager.errors import DatabaseUnavailableError
from manager.fleet.fleet import Fleet
from manager.health import router as health_router
from manager.hub.routes import router as hub_router
from manager.hub.service import HubService
from manager.inference_client import InferenceClient, make_http_client
from manager.inference_watch import InferenceWatch
from manager.library.routes import router as library_router
from manager.library.service import Library
from manager.metrics import ManagerMetrics
from manager.proxy.catalog import router as catalog_router
from manager.proxy.routes import ForwardedPaths
from manager.proxy.routes import router as proxy_router
from manager.proxy.upstream import make_upstream_pool
from manager.responses.routes import router as responses_router
from manager.settings import ManagerSettings
from manager.system.routes import router as system_router
from manager.web.ui import mount_ui
from service_kit.anthropic_errors import AnthropicErrorShape
from service_kit.host_origin import (
    LOCAL_ORIGIN_REGEX,
    HostOriginMiddleware,
    HostPolicy,
    OriginPolicy,
)
from service_kit.observability import RequestContextMiddleware
from service_kit.service_errors import (
    BearerAuthMiddleware,
    BodyLimitMiddleware,
    JSONContentTypeMiddleware,
    install_error_handlers,
)

logger = logging.getLogger(__name__)


def create_app(settings: ManagerSettings | None = None) -> FastAPI:
    settings = settings or ManagerSettings()
    metrics = ManagerMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            schema = SchemaStatus()
            app.state.schema = schema
            try:
                await init_schema(engine)
            except DatabaseUnavailableError as exc:
                # Stay up (no crash loop): /ready and database routes answer 503 until the
                # database can be written again.
                logger.error("database unavailable at start-up: %s", exc.message)
                schema.error = exc.message
                retry = asyncio.create_task(keep_trying_schema(engine, schema))
                stack.push_async_callback(_cancel, retry)
            http = make_http_client(settings)
            stack.push_async_callback(http.aclose)
            app.state.settings = settings
            app.state.metrics = metrics
            app.state.engine = engine
            app.state.sessions = make_sessionmaker(engine)
            app.state.http = http
            upstream = make_upstream_pool(settings)
            stack.push_async_callback(upstream.aclose)
            app.state.upstream = upstream
            app.state.inference = InferenceClient(http)
            # Background services (each enters its own context on the stack).
            app.state.inference_watch = await stack.enter_async_context(
                InferenceWatch(
                    app.state.inference,
                    url=settings.inference_url,
                    hf_cache=settings.hub_cache,
                    models_dir=settings.local_models_dir,
                    interval_s=settings.inference_check_interval_s,
                )
            )
            fleet = None
            if settings.fleet_hosts:
                fleet = await stack.enter_async_context(Fleet(settings, settings.fleet_hosts))
            app.state.fleet = fleet
            library = app.state.library = await stack.enter_async_context(
                Library(
                    settings,
                    app.state.sessions,
                    app.state.inference,
                    app.state.inference_watch,
                    fleet,
                )
            )
            if fleet is not None:
                fleet.sizes_fn = library.model_sizes
            app.state.downloads = await stack.enter_async_context(
                DownloadManager(settings, app.state.sessions, metrics)
            )
            app.state.hub = await stack.enter_async_context(HubService(settings, metrics))
            yield

    app = FastAPI(
        title="modelyard manager",
        version="0.1.0",
        description="Find, download, keep and serve local LLMs on MLX.",
        lifespan=lifespan,
    )
    install_error_handlers(app, "manager")
    # The web UI: the page and its assets are public; the API calls it makes carry the token.
    ui = mount_ui(app, auth_required=settings.api_token is not None)
    app.add_middleware(ForwardedPaths)
    app.add_middleware(JSONContentTypeMiddleware, src="manager")
    # Middleware: the last added runs first. Request context (ids, metrics) wraps everything,
    # then the Host and Origin checks (403), then CORS (so even a 401 carries CORS headers),
    # then the body cap, then auth, then the JSON content-type check (415).
    if settings.api_token is not None:
        app.add_middleware(
            BearerAuthMiddleware,
            token=settings.api_token.get_secret_value(),
            src="manager",
            open_paths=("/health", *ui.public_paths),
        )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        src="manager",
        setting="MODEL_MANAGER_MAX_BODY_BYTES",
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=None if settings.cors_origins else LOCAL_ORIGIN_REGEX,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(
        HostOriginMiddleware,
        hosts=HostPolicy.build(settings.host, settings.allowed_hosts),
        origins=OriginPolicy.build(settings.cors_origins),
        src="manager",
        env_prefix="MODEL_MANAGER_",
    )
    app.add_middleware(AnthropicErrorShape)  # the Messages routes answer errors in its shape
    app.add_middleware(RequestContextMiddleware, metrics=metrics.http)
    # Routers.
    app.include_router(library_router)
    app.include_router(catalog_router)
    app.include_router(downloads_router)
    app.include_router(hub_router)
    app.include_router(health_router)
    app.include_router(system_router)
    app.include_router(proxy_router)
    app.include_router(responses_router)
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
