"""How server-sent event streams are declared in OpenAPI, for both processes.

A ``text/event-stream`` response is a sequence of events; the schema describes one event
(``data`` always, ``event`` / ``id`` / ``retry`` when sent), as SSE-aware tools validate it.
"""

from __future__ import annotations

from typing import Any

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
