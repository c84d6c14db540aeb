"""The library's compatibility verdicts: the facts about a model, judged where it would run.

The facts come from a model on disk (its scanned config and weights) or from the Hub's
description of a repository (narrowed to the files a download would fetch); what the
inference server can load comes from its ``/admin/capabilities`` (``InferenceWatch``), the
budget from its pool. The verdict is ``compatibility.assess`` on the one inference server, or
the best over several (``fleet/verdicts.py``). A local model's summary is cached by every
input it depends on, so listing an unchanged library judges nothing again.
"""

from __future__ import annotations

from typing import Any

import psutil
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from manager.downloads.retry import BackoffWait
from manager.downloads.schemas import DownloadRequest
from manager.errors import HubUnavailableError
from manager.fleet.fleet import Fleet
from manager.fleet.health import HostHealth
from manager.fleet.verdicts import assess_on_hosts, verdict_hosts
from manager.hub.schemas import HubModelDetails
from manager.inference_watch import InferenceView, InferenceWatch
from manager.library.compatibility import (
    CompatibilityFacts,
    architecture_supported,
    head_dim_of,
    images_served,
    summary,
)
from manager.library.formats import model_format, weight_files
from manager.library.pool_state import PoolSource
from manager.library.scan import ScannedModel
from manager.library.schemas import CompatibilityReport, CompatibilitySummary
from manager.library.servable import check_download, requested_paths
from manager.settings import ManagerSettings
from shared_schemas.characteristics import ModelCharacteristics
from shared_schemas.errors import ErrorBody

_SUMMARY_CACHE_MAX = 4096


class Verdicts:
    """Facts and verdicts for the library (see the module docstring)."""

    def __init__(
        self,
        settings: ManagerSettings,
        pool: PoolSource,
        watch: InferenceWatch | None,
        fleet: Fleet | None,
    ) -> None:
        self.settings = settings
        self.physical_memory = int(psutil.virtual_memory().total)
        self._pool = pool
        self._watch = watch
        self._fleet = fleet
        self._summaries: dict[tuple[Any, ...], CompatibilitySummary] = {}

    def inference_view(self) -> InferenceView:
        """What the inference server said it can load (``/admin/capabilities``)."""
        return self._watch.view if self._watch is not None else InferenceView()

    def _verdict_hosts(self) -> tuple[HostHealth, ...]:
        """With several inference servers, those a verdict is made over (empty with one)."""
        return verdict_hosts(self._fleet.health()) if self._fleet is not None else ()

    def assess(self, facts: CompatibilityFacts) -> CompatibilityReport:
        """The verdict: on the inference server, or on the best of several."""
        return assess_on_hosts(facts, self._verdict_hosts())

    def _context_tokens(self, model: ScannedModel, requested: int | None) -> int:
        default = self.settings.compatibility_context_tokens
        if requested is not None:
            return requested
        return min(model.characteristics.context_length or default, default)

    def local_facts(
        self, model: ScannedModel, budget: int | None, context: int | None = None
    ) -> CompatibilityFacts:
        """Facts from a model on disk (its scanned config and weights)."""
        ch = model.characteristics
        view = self.inference_view()
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

    def summary(self, model: ScannedModel, budget: int | None) -> CompatibilitySummary:
        """The verdict's summary of a model on disk, cached by everything it depends on."""
        view = self.inference_view()
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
            found = summary(self.assess(self.local_facts(model, budget)))
            self._summaries[key] = found
        return found

    async def of_hub(
        self, model_id: str, context_tokens: int | None, hub: Any
    ) -> CompatibilityReport:
        """The verdict of a Hub repository, from the Hub's description of it."""
        details: HubModelDetails = await hub.details(model_id, card=False)
        pool = await self._pool.get()
        return self.assess(self.hub_facts(details, pool.budget_bytes, context_tokens))

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
        pool = await self._pool.get()
        facts = self.hub_facts(details, pool.budget_bytes, None, set(paths))
        return check_download(self.assess(facts), force=request.force)

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

    def hub_facts(
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
        view = self.inference_view()
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
