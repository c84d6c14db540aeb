"""Server-sent events read line by line (the manager's download events, OpenAI streams)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    data: str
    id: str | None = None
    event: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Events from the lines of a stream (comments and ``retry:`` skipped)."""
    data: list[str] = []
    event_id: str | None = None
    event: str | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield SSEEvent("\n".join(data), event_id, event)
            data, event_id, event = [], None, None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
        elif field == "event":
            event = value
    if data:
        yield SSEEvent("\n".join(data), event_id, event)
