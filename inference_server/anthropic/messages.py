"""Anthropic Messages replies from a running generation: one message, or its event stream.

Stop sequences are scanned here, over the generated text, so the reply can name the one that
ended it; the generation is then cancelled at the worker's next step.

The stream follows Anthropic's sequence: ``message_start``, ``content_block_start``,
``ping``, ``content_block_delta`` (``text_delta``)..., ``content_block_stop``,
``message_delta`` (``stop_reason``, ``usage``), ``message_stop``; ``ping`` again while the
prompt is being processed; ``error`` if generation fails after the stream started.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from inference_server.errors import InferenceError, ModelLoadError
from inference_server.generation.events import Delta, Done, Failed
from inference_server.generation.service import Generation
from inference_server.generation.stops import StopScanner
from shared_schemas.anthropic import MessagesResponse, MessagesUsage, StopReason, TextBlock

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    return _STATUS_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


class StopWatch:
    """Stop sequences over streamed text, naming the one that matched."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._scanner = StopScanner(stops)
        self._raw = ""
        self._emitted = 0

    def feed(self, piece: str) -> tuple[str, str | None]:
        self._raw += piece
        text, stopped = self._scanner.feed(piece)
        matched = None
        if stopped:
            region = self._raw[self._emitted :]
            found = [(region.find(s), i) for i, s in enumerate(self._stops) if s in region]
            matched = self._stops[min(found)[1]]
        self._emitted += len(text)
        return text, matched

    def flush(self) -> str:
        return self._scanner.flush()


@dataclass
class Outcome:
    stop_reason: StopReason
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


def _failure(failed: Failed) -> InferenceError:
    if isinstance(failed.error, InferenceError):
        return failed.error
    return ModelLoadError(f"generation failed: {failed.error}", code="generation_failed")


async def pieces(
    generation: Generation, watch: StopWatch, keepalive_s: float | None = None
) -> AsyncIterator[str | Outcome | None]:
    """Text pieces, ``None`` for a keep-alive tick, and the ``Outcome`` last."""
    produced = 0
    async for batch in generation.events(keepalive_s):
        if batch is None:
            yield None
            continue
        for event in batch:
            if isinstance(event, Delta):
                produced += event.tokens
                text, matched = watch.feed(event.text)
                if text:
                    yield text
                if matched is not None:
                    generation.cancel()
                    yield Outcome("stop_sequence", matched, generation.prompt_tokens, produced)
                    return
            elif isinstance(event, Done):
                tail = watch.flush()
                if tail:
                    yield tail
                reason: StopReason = "max_tokens" if event.finish_reason == "length" else "end_turn"
                yield Outcome(reason, None, event.prompt_tokens, event.completion_tokens)
                return
            elif isinstance(event, Failed):
                raise _failure(event)


def message_id(generation: Generation) -> str:
    return "msg_" + generation.id.rsplit("-", 1)[-1]


async def collect(generation: Generation, watch: StopWatch) -> MessagesResponse:
    parts: list[str] = []
    outcome: Outcome | None = None
    async for item in pieces(generation, watch):
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, Outcome):
            outcome = item
    assert outcome is not None
    return MessagesResponse(
        id=message_id(generation),
        content=[TextBlock(text="".join(parts))],
        model=generation.model,
        stop_reason=outcome.stop_reason,
        stop_sequence=outcome.stop_sequence,
        usage=MessagesUsage(input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens),
    )


EMPTY_TEXT = {"type": "text", "text": ""}


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream_events(
    generation: Generation, watch: StopWatch, keepalive_s: float
) -> AsyncIterator[bytes]:
    """The SSE events of one reply; cancels the generation if the client goes away."""
    ping = _event("ping", {"type": "ping"})
    try:
        start: dict[str, Any] = {
            "id": message_id(generation),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": generation.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": generation.prompt_tokens, "output_tokens": 0},
        }
        yield (
            _event("message_start", {"type": "message_start", "message": start})
            + _event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            + ping
        ).encode()
        try:
            async for item in pieces(generation, watch, keepalive_s):
                if item is None:
                    yield ping.encode()
                elif isinstance(item, str):
                    delta = {"type": "text_delta", "text": item}
                    yield _event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": 0, "delta": delta},
                    ).encode()
                else:
                    yield (
                        _event("content_block_stop", {"type": "content_block_stop", "index": 0})
                        + _event(
                            "message_delta",
                            {
                                "type": "message_delta",
                                "delta": {
                                    "stop_reason": item.stop_reason,
                                    "stop_sequence": item.stop_sequence,
                                },
                                "usage": {"output_tokens": item.output_tokens},
                            },
                        )
                        + _event("message_stop", {"type": "message_stop"})
                    ).encode()
        except InferenceError as exc:
            yield _event("error", error_body(exc.status, exc.message)).encode()
    finally:
        await generation.close()
