"""Stored responses in the database: keep, read, delete."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.database import session_scope
from manager.errors import NotFoundError
from manager.responses.tables import StoredResponse


def not_found(response_id: str, param: str | None = None) -> NotFoundError:
    return NotFoundError(
        f"No response with id '{response_id[:100]}' is stored here",
        code="response_not_found",
        param=param,
        resolution_steps=["Responses are kept only when created with store: true (the default)."],
    )


async def find(
    sessions: async_sessionmaker[AsyncSession], response_id: str, param: str | None = None
) -> StoredResponse:
    async with session_scope(sessions) as session:
        row = await session.get(StoredResponse, response_id)
    if row is None:
        raise not_found(response_id, param)
    return row


async def keep(
    sessions: async_sessionmaker[AsyncSession],
    response: dict[str, Any],
    context: list[dict[str, Any]],
) -> None:
    row = StoredResponse(
        id=str(response["id"]),
        created_at=float(response.get("created_at") or time.time()),
        model=str(response.get("model", "")),
        response=response,
        context=context,
    )
    async with session_scope(sessions) as session:
        await session.merge(row)


async def delete(sessions: async_sessionmaker[AsyncSession], response_id: str) -> None:
    async with session_scope(sessions) as session:
        result = await session.execute(
            sql_delete(StoredResponse).where(StoredResponse.id == response_id)
        )
    if not getattr(result, "rowcount", 0):
        raise not_found(response_id)
