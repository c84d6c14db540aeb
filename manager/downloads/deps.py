"""Dependency aliases of downloads: ``DownloadsDep`` (the app's
:class:`~manager.downloads.jobs.DownloadManager`, for routes) and ``OwnedModelsDep`` (the
models active jobs own, which the library's delete and cleanup respect: the download manager
is the library's :class:`~manager.library.ownership.DownloadOwnership`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from manager.downloads.jobs import DownloadManager
from manager.library.ownership import DownloadOwnership


async def _downloads(request: Request) -> DownloadManager:
    downloads: DownloadManager = request.app.state.downloads
    return downloads


async def _owned(request: Request) -> set[str] | None:
    """None when the app runs without a download service (cleanup then goes by file age)."""
    ownership: DownloadOwnership | None = getattr(request.app.state, "downloads", None)
    return await ownership.owned_model_ids() if ownership is not None else None


DownloadsDep = Annotated[DownloadManager, Depends(_downloads)]
OwnedModelsDep = Annotated[set[str] | None, Depends(_owned)]
