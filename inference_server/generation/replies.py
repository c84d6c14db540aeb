"""The answer of a non-streamed request: wait for it while watching the client.

A client that disconnects before the answer is ready cancels its generation at the worker's
next step, so the request releases its model at once; it gets 499, which nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi.responses import Response

from inference_server.generation.service import Generation

_T = TypeVar("_T")


async def unless_disconnected(
    receive: Any, generation: Generation, work: Coroutine[Any, Any, _T]
) -> _T | None:
    """Await ``work`` (a non-streaming response); ``None`` if the client went away first.

    A client that disconnects cancels the generation at the worker's next step and the wait
    for its events, so the request releases its model at once.
    """

    async def disconnected() -> None:
        while (await receive()).get("type") != "http.disconnect":
            pass

    work_task = asyncio.ensure_future(work)
    watch_task = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({work_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watch_task, work_task):
            if not task.done():
                if task is work_task:
                    generation.cancel()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if work_task.cancelled():
        return None
    return work_task.result()


CLIENT_CLOSED_REQUEST = 499  # the client went away before the answer; nobody reads it


async def whole_answer(
    receive: Any, generation: Generation, work: Coroutine[Any, Any, _T]
) -> _T | Response:
    """A non-streamed answer: ``work``'s result, or 499 when the client went away first;
    the generation is closed either way."""
    try:
        answer = await unless_disconnected(receive, generation, work)
    finally:
        await generation.close()
    return answer if answer is not None else Response(status_code=CLIENT_CLOSED_REQUEST)
