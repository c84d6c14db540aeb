"""The Responses event stream as it passes through the manager (pure).

Events that carry the response object (``response.created``, ``.in_progress``,
``.completed``, ``.incomplete``, ``.failed``) get its ``store`` and ``previous_response_id``
written back (``conversation.with_state``); every other event (the deltas) passes byte for
byte. The finished response (``completed`` or ``incomplete``) is handed out to be stored.
"""

from __future__ import annotations

import json
from typing import Any

from manager.responses.conversation import Turn, with_state

CARRIES_RESPONSE = frozenset(
    {
        b"response.created",
        b"response.in_progress",
        b"response.completed",
        b"response.incomplete",
        b"response.failed",
    }
)
FINISHED = frozenset({b"response.completed", b"response.incomplete"})


def _event_name(event: bytes) -> bytes | None:
    if event.startswith(b"event: "):
        return event[7:].split(b"\n", 1)[0].strip()
    return None


class EventPatcher:
    """Feed the upstream's chunks; get the events to send and the finished response."""

    def __init__(self, turn: Turn) -> None:
        self._turn = turn
        self._buffer = b""
        self.finished: dict[str, Any] | None = None

    def feed(self, chunk: bytes) -> list[tuple[bytes, dict[str, Any] | None]]:
        """Whole events in ``chunk`` (and before it): (bytes, the finished response or None)."""
        self._buffer += chunk
        out: list[tuple[bytes, dict[str, Any] | None]] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end == -1:
                return out
            event, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            out.append(self._patch(event))

    def rest(self) -> bytes:
        """What is left when the stream ends (an event cut short passes as it is)."""
        rest, self._buffer = self._buffer, b""
        return rest

    def _patch(self, event: bytes) -> tuple[bytes, dict[str, Any] | None]:
        name = _event_name(event)
        if name not in CARRIES_RESPONSE:
            return event, None
        head, _, data = event.partition(b"\ndata: ")
        try:
            body = json.loads(data)
        except ValueError:
            return event, None
        if not isinstance(body, dict) or not isinstance(body.get("response"), dict):
            return event, None
        body["response"] = with_state(body["response"], self._turn)
        patched = head + b"\ndata: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
        return patched, body["response"] if name in FINISHED else None
