"""Server-sent event streams for both processes: how they are sent and declared in OpenAPI.

A ``text/event-stream`` response is a sequence of events; the schema describes one event
(``data`` always, ``event`` / ``id`` / ``retry`` when sent), as SSE-aware tools validate it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from fastapi.responses import StreamingResponse

# No caching, and no buffering by a reverse proxy in front (nginx reads X-Accel-Buffering).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {"type": "string", "description": "JSON, or `[DONE]` at the end of a stream."},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}

SSE_CONTENT: dict[str, Any] = {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}


def event_stream(events: AsyncIterable[str | bytes]) -> StreamingResponse:
    """A ``text/event-stream`` response that sends ``events`` as they come."""
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
