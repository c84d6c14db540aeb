"""``DownloadsDep``: the app's :class:`~manager.downloads.jobs.DownloadManager`, for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from manager.downloads.jobs import DownloadManager


async def _downloads(request: Request) -> DownloadManager:
    downloads: DownloadManager = request.app.state.downloads
    return downloads


DownloadsDep = Annotated[DownloadManager, Depends(_downloads)]
