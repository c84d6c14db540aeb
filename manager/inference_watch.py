"""What the manager knows of the inference server: whether it answers, what it can load, and
whether it reads the folders the manager keeps models in.

``InferenceWatch.check()`` probes ``/health`` with a short timeout. When the server answers
for the first time, or again after it could not be reached, the watch fetches
``/admin/capabilities`` and compares the folders the server reads with the manager's own
(``shared_schemas.storage.folder_mismatches``); otherwise the capabilities it has are kept
(they are fixed for the life of a server process). The first check is made at start-up,
before the manager answers (waited for at most ``FIRST_CHECK_WAIT_S``); then a background
task checks every ``MODEL_MANAGER_INFERENCE_CHECK_INTERVAL_S``; ``/ready`` and
``/api/system`` check on request, so they say what is true now. While the server is away
the last capabilities stay known (``stale``), and the verdicts that use them say so.

A mismatch is reported loudly: a WARNING log line when it is first learned (at start-up, or
when the server is first reached) and whenever it changes, ``/ready`` (503), ``/api/system``,
and the ``not_visible_to_inference`` state of the ``/v1/models`` entries it hides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from manager.inference_client import InferenceClient
from manager.library.schemas import ModelSource
from service_kit.service_errors import ServiceError
from shared_schemas.capabilities import InferenceCapabilities
from shared_schemas.storage import MISMATCH_ADVICE, FolderMismatch, folder_mismatches

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 1.0
FIRST_CHECK_WAIT_S = 3.0
_HIDDEN_SOURCE: dict[str, ModelSource] = {"hf_cache": "hub", "models": "imported"}


@dataclass(frozen=True)
class InferenceView:
    """The inference server as last seen. ``reachable`` is None before the first check;
    ``capabilities`` are the last ones fetched (kept while the server is away)."""

    reachable: bool | None = None
    capabilities: InferenceCapabilities | None = None
    capabilities_at: float | None = None
    model_types: frozenset[str] | None = None
    mismatches: tuple[FolderMismatch, ...] = ()
    error: str | None = None

    @property
    def stale(self) -> bool:
        """Capabilities known, but from a server that does not answer now."""
        return self.capabilities is not None and self.reachable is not True

    @property
    def storage_agrees(self) -> bool | None:
        return None if self.capabilities is None else not self.mismatches

    @property
    def hidden_sources(self) -> frozenset[ModelSource]:
        """Sources of the models the inference server cannot see (``hub``, ``imported``)."""
        return frozenset(_HIDDEN_SOURCE[m.folder] for m in self.mismatches)

    def mismatch_messages(self) -> list[str]:
        return [m.message for m in self.mismatches]


class InferenceWatch:
    def __init__(
        self,
        inference: InferenceClient,
        *,
        url: str,
        hf_cache: Path,
        models_dir: Path,
        interval_s: float,
    ) -> None:
        self._inference = inference
        self.url = url
        self._hf_cache = hf_cache
        self._models_dir = models_dir
        self._interval_s = interval_s
        self._view = InferenceView()
        self._inflight: asyncio.Task[InferenceView] | None = None
        self._task: asyncio.Task[None] | None = None
        self._reported: tuple[FolderMismatch, ...] = ()

    @property
    def view(self) -> InferenceView:
        """What is known now (no I/O)."""
        return self._view

    # ---- lifetime -----------------------------------------------------------------------------

    async def __aenter__(self) -> InferenceWatch:
        # The first look is awaited (bounded) before the app answers, so its first answers
        # (``/v1/models`` states, verdicts) know what it found.
        try:
            await asyncio.wait_for(self.check(), FIRST_CHECK_WAIT_S)
        except TimeoutError:
            logger.info("the inference server at %s has not answered yet; going on", self.url)
        except Exception:
            logger.exception("checking the inference server failed")
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [t for t in (self._task, self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # the watch must outlive any one failed check
                logger.exception("checking the inference server failed")
            await asyncio.sleep(self._interval_s)

    # ---- checking -----------------------------------------------------------------------------

    async def check(self) -> InferenceView:
        """Probe the server now (callers arriving meanwhile share the probe)."""
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._check())
            self._inflight.add_done_callback(self._clear)
        return await asyncio.shield(self._inflight)

    def _clear(self, task: asyncio.Task[InferenceView]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _check(self) -> InferenceView:
        before = self._view
        if not await self._inference.health(wait_s=HEALTH_TIMEOUT_S):
            self._unreachable(before)
            return self._view
        if before.reachable is True and before.capabilities is not None and not before.error:
            return before  # the same server process: its capabilities have not changed
        try:
            capabilities = await self._inference.capabilities()
        except ServiceError as exc:
            if exc.message != before.error:
                logger.warning(
                    "the inference server at %s answers but cannot be asked its capabilities: %s",
                    self.url,
                    exc.message,
                )
            self._view = replace(before, reachable=True, error=exc.message)
            return self._view
        self._learned(capabilities, before)
        return self._view

    def _unreachable(self, before: InferenceView) -> None:
        if before.reachable is None:
            logger.info(
                "the inference server at %s is not reachable yet; checking every %gs",
                self.url,
                self._interval_s,
            )
        elif before.reachable:
            logger.warning("the inference server at %s became unreachable", self.url)
        self._view = replace(before, reachable=False, error="unreachable")

    def _learned(self, capabilities: InferenceCapabilities, before: InferenceView) -> None:
        mismatches = tuple(
            folder_mismatches(
                hf_cache=self._hf_cache,
                models=self._models_dir,
                inference_hf_cache=Path(capabilities.hf_cache_dir),
                inference_models=[Path(p) for p in capabilities.models_dirs],
            )
        )
        if before.capabilities is None or before.capabilities != capabilities:
            logger.info(
                "the inference server at %s: modelyard %s, mlx-lm %s, %d loadable model types",
                self.url,
                capabilities.version,
                capabilities.mlx_lm_version,
                len(capabilities.model_types),
            )
        if mismatches and mismatches != self._reported:
            logger.warning(
                "storage mismatch: models the manager lists are not visible to the inference "
                "server at %s: %s. %s",
                self.url,
                "; ".join(m.message for m in mismatches),
                MISMATCH_ADVICE,
            )
        elif not mismatches and self._reported:
            logger.info("storage agrees with the inference server at %s again", self.url)
        self._reported = mismatches
        same = before.capabilities == capabilities and before.model_types is not None
        self._view = InferenceView(
            reachable=True,
            capabilities=capabilities,
            capabilities_at=time.time(),
            # one set object per distinct answer: verdict caches compare it by identity
            model_types=before.model_types if same else frozenset(capabilities.model_types),
            mismatches=mismatches,
        )
