"""One assistant turn as the other APIs see it: text, tool calls, and how it ended.

The Anthropic Messages and Responses routes run the chat pipeline (``GenerationService.
start_chat``) and read its events through ``turn_events``, which turns the worker's deltas
into ``TextOut`` / ``CallOut`` pieces and a closing ``TurnEnd``. Streamed and non-streamed
answers are built from the same pieces, so the two always agree.

Stop sequences are matched here rather than in the worker, because Anthropic's answer names
the one that matched (``stop_sequence``): ``StopMatcher`` holds back text while it could still
be the start of one, and on a match the generation is cancelled. The tokens counted are the
worker's own (``Delta.tokens``), up to and including the token that completed the match.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from inference_server.errors import InferenceError, ModelLoadError
from inference_server.generation.service import Generation
from inference_server.generation.tools import ScanOutput
from inference_server.runtime.events import Delta, Done, Failed

EndReason = Literal["stop", "length", "tool_calls", "stop_sequence"]


@dataclass(slots=True)
class TextOut:
    text: str


@dataclass(slots=True)
class CallOut:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class TurnEnd:
    reason: EndReason
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    stop_sequence: str | None = None


TurnEvent = TextOut | CallOut | TurnEnd


class StopMatcher:
    """Stop sequences over streamed text (pure); it says which one matched."""

    __slots__ = ("_held", "_longest", "_stops", "matched")

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._longest = max((len(s) for s in self._stops), default=0)
        self._held = ""
        self.matched: str | None = None

    def feed(self, piece: str) -> str:
        """Add ``piece``; return the text safe to emit. After a match, ``matched`` is set and
        the text up to the stop sequence is returned."""
        if not self._stops:
            return piece
        text = self._held + piece
        first: tuple[int, str] | None = None
        for stop in self._stops:
            index = text.find(stop)
            if index != -1 and (first is None or index < first[0]):
                first = (index, stop)
        if first is not None:
            self._held = ""
            self.matched = first[1]
            return text[: first[0]]
        keep = self._partial_tail(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        text, self._held = self._held, ""
        return text

    def _partial_tail(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a stop."""
        for size in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0


def failure(event: Failed) -> InferenceError:
    if isinstance(event.error, InferenceError):
        return event.error
    return ModelLoadError(f"generation failed: {event.error}", code="generation_failed")


class _Calls:
    """Tool calls read out of the text with the model's parser, when the turn has tools."""

    def __init__(self, generation: Generation) -> None:
        tools = generation.tools
        self._scanner = tools.scanner() if tools is not None else None
        self.count = 0

    def feed(self, text: str, out: list[TurnEvent]) -> None:
        if self._scanner is None:
            if text:
                out.append(TextOut(text))
            return
        self._add(self._scanner.feed(text), out)

    def finish(self, out: list[TurnEvent]) -> None:
        if self._scanner is not None:
            self._add(self._scanner.finish(), out)

    def _add(self, scanned: ScanOutput, out: list[TurnEvent]) -> None:
        if scanned.text:
            out.append(TextOut(scanned.text))
        for call in scanned.calls:
            out.append(CallOut(call.id, call.name, call.arguments))
            self.count += 1


async def turn_events(
    generation: Generation, stops: list[str], keepalive_s: float | None = None
) -> AsyncIterator[list[TurnEvent] | None]:
    """Pieces of the turn as they come, ending with one ``TurnEnd``; ``None`` is a keep-alive
    tick. A failed generation raises its ``InferenceError``."""
    matcher = StopMatcher(stops)
    calls = _Calls(generation)
    output_tokens = 0
    async for batch in generation.events(keepalive_s):
        if batch is None:
            yield None
            continue
        out: list[TurnEvent] = []
        for event in batch:
            if isinstance(event, Delta):
                output_tokens += event.tokens
                calls.feed(matcher.feed(event.text), out)
                if matcher.matched is not None:
                    generation.cancel()
                    calls.finish(out)
                    out.append(
                        TurnEnd(
                            "stop_sequence",
                            generation.prompt_tokens,
                            output_tokens,
                            generation.job.cached_tokens,
                            matcher.matched,
                        )
                    )
                    yield out
                    return
            elif isinstance(event, Done):
                calls.feed(matcher.flush(), out)
                calls.finish(out)
                reason: EndReason = "length" if event.finish_reason == "length" else "stop"
                if calls.count and reason == "stop":
                    reason = "tool_calls"
                out.append(
                    TurnEnd(
                        reason, event.prompt_tokens, event.completion_tokens, event.cached_tokens
                    )
                )
                yield out
                return
            elif isinstance(event, Failed):
                raise failure(event)
        if out:
            yield out


async def collect_turn(generation: Generation, stops: list[str]) -> list[TurnEvent]:
    """Every piece of the turn (a non-streamed answer)."""
    pieces: list[TurnEvent] = []
    async for batch in turn_events(generation, stops):
        if batch is not None:
            pieces.extend(batch)
    return pieces
