"""Dependency aliases of the library: the service, and the download jobs that own files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from manager.library.service import Library, owned_model_ids


async def _library(request: Request) -> Library:
    library: Library = request.app.state.library
    return library


async def _owned(request: Request) -> set[str] | None:
    return await owned_model_ids(getattr(request.app.state, "downloads", None))


async def _hub(request: Request) -> Any:
    return getattr(request.app.state, "hub", None)


LibraryDep = Annotated[Library, Depends(_library)]
OwnedDownloadsDep = Annotated[set[str] | None, Depends(_owned)]
OptionalHubDep = Annotated[Any, Depends(_hub)]
