"""The inference server application: ``create_app(settings)`` builds it.

Run with ``uvicorn inference_server.app:create_app --factory`` or ``python -m
inference_server``. The MLX worker, the pool and the services are built in the lifespan
and hung on ``app.state``; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from inference_server.anthropic.routes import router as anthropic_router
from inference_server.capabilities import router as capabilities_router
from inference_server.catalog import router as catalog_router
from inference_server.cpu_blas import activate as activate_cpu_blas
from inference_server.distributed import Ranks, join
from inference_server.embeddings.routes import router as embeddings_router
from inference_server.embeddings.service import EmbeddingService
from inference_server.generation.routes import router as generation_router
from inference_server.generation.service import GenerationService
from inference_server.health import router as health_router
from inference_server.metrics import InferenceMetrics
from inference_server.pool.pool import ModelPool
from inference_server.pool.routes import router as pool_router
from inference_server.responses.routes import router as responses_router
from inference_server.runtime.watchdog import watch_group
from inference_server.runtime.worker import MLXWorker
from inference_server.settings import InferenceSettings
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


def create_app(settings: InferenceSettings | None = None) -> FastAPI:
    settings = settings or InferenceSettings()
    cpu_blas = activate_cpu_blas(settings.cpu_blas)  # before anything imports MLX
    metrics = InferenceMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ranks = join(settings.distributed)  # rank 0 of a sharded server, or None
        worker = make_worker(settings, metrics, ranks)
        worker.start()
        pool = ModelPool(
            worker,
            cache_dir=settings.hf_cache_dir,
            models_dirs=settings.models_dirs,
            # Each rank holds its share of every model: the budget is every rank's.
            max_memory_bytes=settings.max_memory_bytes * (ranks.size if ranks else 1),
            max_models=settings.max_models,
            idle_ttl_s=settings.idle_ttl_s,
            cpu_float32=settings.cpu_float32,
            cpu_blas=cpu_blas,
            metrics=metrics,
        )
        app.state.settings = settings
        app.state.worker = worker
        app.state.pool = pool
        app.state.metrics = metrics
        app.state.generation = GenerationService(pool, worker, settings, metrics)
        app.state.embeddings = EmbeddingService(
            pool, worker, settings, model_id=app.state.generation.model_id
        )
        tasks: list[asyncio.Task[None]] = []
        if ranks is not None:  # from the start: a preload waits on the other ranks too
            timeout = settings.distributed_step_timeout_s
            tasks.append(asyncio.create_task(watch_group(worker, ranks, timeout)))
        try:
            for model_id in settings.preload_models:
                await pool.ensure_ready(model_id, pin=True)
            interval = _reaper_interval(settings.idle_ttl_s)
            tasks.append(asyncio.create_task(pool.run_reaper(interval)))
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await pool.close()
            worker.stop()

    app = FastAPI(
        title="modelyard inference server",
        version="0.1.0",
        description="OpenAI-compatible generation on MLX with a model pool.",
        lifespan=lifespan,
    )
    install_error_handlers(app, "inference_server")
    # Middleware: the last added runs first. Request context (ids, metrics) wraps everything,
    # then the Host and Origin checks (403), then CORS, then the body cap (413), then auth,
    # then the JSON content-type check (415).
    app.add_middleware(JSONContentTypeMiddleware, src="inference_server")
    if settings.api_key is not None:
        app.add_middleware(
            BearerAuthMiddleware,
            token=settings.api_key.get_secret_value(),
            src="inference_server",
            open_paths=("/health",),
        )
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        src="inference_server",
        setting="MLX_SERVER_MAX_BODY_BYTES",
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=None if settings.cors_origins else LOCAL_ORIGIN_REGEX,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(
        HostOriginMiddleware,
        hosts=HostPolicy.build(settings.host, settings.allowed_hosts),
        origins=OriginPolicy.build(settings.cors_origins),
        src="inference_server",
        env_prefix="MLX_SERVER_",
    )
    app.add_middleware(AnthropicErrorShape)  # the Messages routes answer errors in its shape
    app.add_middleware(RequestContextMiddleware, metrics=metrics.http)
    app.include_router(health_router)
    app.include_router(generation_router)
    app.include_router(embeddings_router)
    app.include_router(anthropic_router)
    app.include_router(responses_router)
    app.include_router(pool_router)
    app.include_router(catalog_router)
    app.include_router(capabilities_router)
    return app


def make_worker(
    settings: InferenceSettings, metrics: InferenceMetrics, ranks: Ranks | None
) -> MLXWorker:
    """The MLX worker (every rank of a sharded server builds the same one)."""
    return MLXWorker(
        completion_batch_size=settings.completion_batch_size,
        prefill_batch_size=settings.prefill_batch_size,
        prefill_step_size=settings.prefill_step_size,
        prompt_cache_bytes=settings.prompt_cache_bytes,
        metrics=metrics,
        ranks=ranks,
    )


def _reaper_interval(ttl: float) -> float:
    return 1.0 if ttl <= 0 else max(0.05, min(1.0, ttl / 4))
