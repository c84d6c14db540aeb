"""``POST /v1/responses`` through the manager: the one ``/v1`` body the manager reads.

A request that asks nothing of the manager (``store: false`` and no
``previous_response_id``) is forwarded byte for byte, like chat. Otherwise the manager
expands ``previous_response_id`` into the conversation it stored (404 when there is none),
sends the inference server the whole conversation with ``store: false``, writes ``store``
and ``previous_response_id`` back into the response objects it relays, and keeps the
finished response (``store``, the default) before the last event or the body goes out, so a
client that asks for it at once finds it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from manager.errors import ManagerError
from manager.proxy.forward import Forwarding, request_headers, response_headers
from manager.proxy.upstream import Exchange, UpstreamBroken
from manager.responses import store
from manager.responses.conversation import (
    Turn,
    forwarded_body,
    history,
    input_items,
    read_turn,
    with_state,
)
from manager.responses.events import EventPatcher

logger = logging.getLogger(__name__)


async def conversation(
    sessions: async_sessionmaker[AsyncSession], turn: Turn
) -> list[dict[str, Any]]:
    """The input items the inference server answers: earlier turns, then this input."""
    items = input_items(turn.body.get("input"))
    if turn.previous_response_id is None:
        return items
    row = await store.find(sessions, turn.previous_response_id, "previous_response_id")
    return [*history(row.context, row.response), *items]


class StatefulForwarding(Forwarding):
    """Forwarding that keeps responses (see the module doc)."""

    async def forward(self, body: bytes) -> None:
        turn = read_turn(body)
        if turn is None or turn.stateless:
            await super().forward(body)
            return
        sessions: async_sessionmaker[AsyncSession] = self.scope["app"].state.sessions
        try:
            context = await conversation(sessions, turn)
            upstream = await self.open(
                self.path.encode(),
                request_headers(self.scope),
                forwarded_body(turn.body, context),
            )
        except ManagerError as exc:
            await self.refuse(exc)
            return
        try:
            if upstream.content_type == b"text/event-stream":
                await self._relay_events(upstream, turn, sessions, context)
            else:
                await self._relay_whole(upstream, turn, sessions, context)
        finally:
            upstream.close()

    async def _keep(
        self,
        sessions: async_sessionmaker[AsyncSession],
        turn: Turn,
        response: dict[str, Any],
        context: list[dict[str, Any]],
    ) -> None:
        if not turn.store:
            return
        try:
            await store.keep(sessions, response, context)
        except ManagerError as exc:
            logger.error("response %s was not stored: %s", response.get("id"), exc.message)

    async def _relay_whole(
        self,
        upstream: Exchange,
        turn: Turn,
        sessions: async_sessionmaker[AsyncSession],
        context: list[dict[str, Any]],
    ) -> None:
        parts: list[bytes] = []
        try:
            while chunk := await upstream.next_chunk():
                parts.append(chunk)
        except UpstreamBroken:
            await self.relay_bytes(upstream, b"".join(parts))
            return
        raw = b"".join(parts)
        if upstream.status == 200:
            try:
                response = json.loads(raw)
            except ValueError:
                response = None
            if isinstance(response, dict):
                response = with_state(response, turn)
                await self._keep(sessions, turn, response, context)
                raw = json.dumps(response).encode()
        await self.relay_bytes(upstream, raw)

    async def relay_bytes(self, upstream: Exchange, raw: bytes) -> None:
        self.started = True
        headers = [(k, v) for k, v in response_headers(upstream) if k != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await self.send(
            {"type": "http.response.start", "status": upstream.status, "headers": headers}
        )
        await self.send({"type": "http.response.body", "body": raw, "more_body": False})

    async def _relay_events(
        self,
        upstream: Exchange,
        turn: Turn,
        sessions: async_sessionmaker[AsyncSession],
        context: list[dict[str, Any]],
    ) -> None:
        self.started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": response_headers(upstream),
            }
        )
        patcher = EventPatcher(turn)
        try:
            while chunk := await upstream.next_chunk():
                out: list[bytes] = []
                for event, finished in patcher.feed(chunk):
                    if finished is not None:
                        await self._keep(sessions, turn, finished, context)
                    out.append(event)
                if out:
                    await self.send(
                        {"type": "http.response.body", "body": b"".join(out), "more_body": True}
                    )
        except UpstreamBroken as exc:
            self.metrics.proxy_upstream_errors.labels("dropped").inc()
            logger.warning("inference server dropped a response: %s", exc.reason)
            frame = self.error_frame("the inference server closed the stream before it finished")
            await self.send({"type": "http.response.body", "body": frame, "more_body": True})
        await self.send({"type": "http.response.body", "body": patcher.rest(), "more_body": False})
