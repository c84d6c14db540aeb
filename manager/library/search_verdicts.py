"""The "will it run here?" verdict of every result of a Hub search page, in one answer.

``GET /api/hub/search?verdicts=true`` fills each result's ``compatibility`` with the report
``GET /api/models/compatibility/{id}`` gives for it (the local copy when there is one, else
the Hub's description, read through the Hub cache), made for the whole page at once, at most
``hub_concurrency`` at a time. A result whose verdict cannot be made (the Hub does not
describe the repository, or did not answer) keeps ``compatibility: null``; the page stands.
"""

from __future__ import annotations

import asyncio
import logging

from manager.errors import ManagerError
from manager.hub.schemas import HubSearchPage
from manager.hub.service import HubService
from manager.library.schemas import CompatibilityReport
from manager.library.service import Library

logger = logging.getLogger(__name__)


async def with_verdicts(
    page: HubSearchPage, library: Library, hub: HubService, concurrency: int
) -> HubSearchPage:
    """``page`` with each result's compatibility report (None where it cannot be made)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def verdict(model_id: str) -> CompatibilityReport | None:
        async with semaphore:
            try:
                return await library.compatibility(model_id, None, hub)
            except ManagerError as exc:
                logger.debug("no verdict for %s in a search page: %s", model_id, exc.message)
                return None

    reports = await asyncio.gather(*(verdict(result.id) for result in page.results))
    results = [
        result.model_copy(update={"compatibility": report})
        for result, report in zip(page.results, reports, strict=True)
    ]
    return page.model_copy(update={"results": results})
