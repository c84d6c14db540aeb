"""``HubDep``: the app's :class:`~manager.hub.service.HubService`, for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from manager.hub.service import HubService


async def _hub(request: Request) -> HubService:
    hub: HubService = request.app.state.hub
    return hub


HubDep = Annotated[HubService, Depends(_hub)]
