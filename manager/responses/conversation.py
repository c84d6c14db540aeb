"""What the manager adds to a Responses request (pure): the conversation of an earlier
response, and ``store`` / ``previous_response_id`` in the answer.

The inference server is stateless, so the manager sends it the whole conversation as input
items (the earlier turns' items, their outputs as assistant items, then this input) with
``store: false`` and no ``previous_response_id``, and writes both back into the response
objects it answers with. Instructions are not carried over from the earlier response (as
OpenAI does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from manager.errors import BadRequestError


@dataclass(frozen=True)
class Turn:
    """One Responses request as the manager handles it."""

    body: dict[str, Any]
    store: bool
    previous_response_id: str | None

    @property
    def stateless(self) -> bool:
        """Nothing to keep and nothing to expand: forwarded byte for byte."""
        return not self.store and self.previous_response_id is None


def read_turn(raw: bytes) -> Turn | None:
    """The turn in a request body; None when the body is not a JSON object with a boolean (or
    absent) ``store`` and a string (or absent) ``previous_response_id``: the inference server
    then answers it with the schema's own error."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    store = body.get("store")
    previous = body.get("previous_response_id")
    if not (store is None or isinstance(store, bool)):
        return None
    if not (previous is None or isinstance(previous, str)):
        return None
    return Turn(body=body, store=store is not False, previous_response_id=previous)


def input_items(value: Any) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return list(value)
    raise BadRequestError(
        "input: must be a string or a list of input items", param="input", code="invalid_request"
    )


def output_as_input(item: dict[str, Any]) -> dict[str, Any] | None:
    """An output item of an earlier response as an input item of the next request."""
    kind = item.get("type")
    if kind == "message":
        parts = [
            {"type": "output_text", "text": part.get("text", "")}
            for part in item.get("content", [])
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        return {"type": "message", "role": "assistant", "content": parts}
    if kind == "function_call":
        return {
            "type": "function_call",
            "call_id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": item.get("arguments", ""),
        }
    return None


def history(context: list[dict[str, Any]], response: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation an earlier response leaves: what it answered, then its output."""
    outputs = [output_as_input(item) for item in response.get("output", [])]
    return [*context, *(item for item in outputs if item is not None)]


def forwarded_body(body: dict[str, Any], items: list[dict[str, Any]]) -> bytes:
    """The body sent to the inference server: the whole conversation, nothing to keep."""
    out = {k: v for k, v in body.items() if k != "previous_response_id"}
    out["input"] = items
    out["store"] = False
    return json.dumps(out).encode()


def with_state(response: dict[str, Any], turn: Turn) -> dict[str, Any]:
    """The response object as the client sees it: its ``store`` and previous response."""
    return {**response, "store": turn.store, "previous_response_id": turn.previous_response_id}
