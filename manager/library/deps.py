"""Dependency aliases of the library: the service, and the Hub service when there is one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from manager.library.service import Library


async def _library(request: Request) -> Library:
    library: Library = request.app.state.library
    return library


async def _hub(request: Request) -> Any:
    return getattr(request.app.state, "hub", None)


LibraryDep = Annotated[Library, Depends(_library)]
OptionalHubDep = Annotated[Any, Depends(_hub)]
