"""OpenAI response bodies and SSE frames from generation events.

The streaming path builds each frame from a prefix computed once per request plus the
JSON-escaped text, and writes every event that is ready in one frame batch: no pydantic
model per token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from inference_server.errors import InferenceError, ModelLoadError
from inference_server.generation.service import Generation
from inference_server.generation.tools import CallPart, ScanOutput
from inference_server.runtime.events import Delta, Done, Failed
from shared_schemas.openai import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionResponse,
    ChoiceLogprobs,
    CompletionChoice,
    CompletionResponse,
    FunctionCall,
    PromptTokensDetails,
    TokenLogprob,
    ToolCall,
    Usage,
)

DONE_FRAME = b"data: [DONE]\n\n"
KEEPALIVE_FRAME = b": keep-alive\n\n"


def _usage(done: Done) -> Usage:
    return Usage(
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=done.cached_tokens),
    )


def _error_from(failed: Failed) -> InferenceError:
    if isinstance(failed.error, InferenceError):
        return failed.error
    return ModelLoadError(f"generation failed: {failed.error}", code="generation_failed")


async def collect(generation: Generation) -> tuple[str, Done, list[dict[str, Any]]]:
    parts: list[str] = []
    logprobs: list[dict[str, Any]] = []
    async for batch in generation.events():
        assert batch is not None
        for event in batch:
            if isinstance(event, Delta):
                parts.append(event.text)
                if event.logprobs:
                    logprobs.extend(event.logprobs)
            elif isinstance(event, Done):
                return "".join(parts), event, logprobs
            elif isinstance(event, Failed):
                raise _error_from(event)
    raise ModelLoadError("generation ended without a result")  # pragma: no cover


def finish_reason(done: Done, calls: int) -> str:
    """``tool_calls`` when the answer ended by itself after making calls."""
    return "tool_calls" if calls and done.finish_reason == "stop" else done.finish_reason


def _message(generation: Generation, text: str, done: Done) -> tuple[AssistantMessage, str]:
    if generation.tools is None:
        return AssistantMessage(content=text), done.finish_reason
    scanner = generation.tools.scanner()
    content = scanner.feed(text).text + scanner.finish().text
    calls = [
        ToolCall(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments))
        for c in scanner.calls
    ]
    message = AssistantMessage(
        content=content if content or not calls else None, tool_calls=calls or None
    )
    return message, finish_reason(done, len(calls))


async def chat_response(generation: Generation, want_logprobs: bool) -> ChatCompletionResponse:
    text, done, logprobs = await collect(generation)
    choice_logprobs = None
    if want_logprobs:
        choice_logprobs = ChoiceLogprobs(content=[TokenLogprob(**lp) for lp in logprobs])
    message, reason = _message(generation, text, done)
    return ChatCompletionResponse(
        id=generation.id,
        created=generation.created,
        model=generation.model,
        choices=[
            ChatChoice(
                message=message,
                logprobs=choice_logprobs,
                finish_reason=reason,
            )
        ],
        usage=_usage(done),
    )


async def completion_response(generation: Generation, echo_text: str | None) -> CompletionResponse:
    text, done, _ = await collect(generation)
    if echo_text is not None:
        text = echo_text + text
    return CompletionResponse(
        id=generation.id,
        created=generation.created,
        model=generation.model,
        choices=[CompletionChoice(text=text, finish_reason=done.finish_reason)],
        usage=_usage(done),
    )


def _scanned_frames(
    frames: _Frames, scanned: ScanOutput, logprobs: list[dict[str, Any]] | None
) -> list[str]:
    """Content and call parts in the order they were generated; the tokens' logprobs go with
    the first content frame (an empty one when the tokens were all call markup)."""
    out = []
    for piece in scanned.pieces:
        if isinstance(piece, str):
            out.append(frames.content(piece, logprobs))
            logprobs = None
        else:
            out.append(frames.tool_call(piece))
    if logprobs:
        out.append(frames.content("", logprobs))
    return out


class _Frames:
    """Per-request frame templates."""

    def __init__(self, generation: Generation, *, chat: bool, include_usage: bool) -> None:
        head = {
            "id": generation.id,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": generation.created,
            "model": generation.model,
        }
        self.chat = chat
        self.include_usage = include_usage
        self._head = json.dumps(head, separators=(",", ":"))[:-1]  # without the closing brace
        self._usage_tail = ',"usage":null}' if include_usage else "}"

    def frame(self, choice: str) -> str:
        return f'data: {self._head},"choices":[{choice}]{self._usage_tail}\n\n'

    def content(self, text: str, logprobs: list[dict[str, Any]] | None) -> str:
        lp = "null"
        if logprobs is not None:
            lp = json.dumps({"content": logprobs}) if self.chat else "null"
        body = json.dumps(text)
        if self.chat:
            choice = f'{{"index":0,"delta":{{"content":{body}}},"logprobs":{lp},'
        else:
            choice = f'{{"index":0,"text":{body},"logprobs":null,'
        return self.frame(choice + '"finish_reason":null}')

    def tool_call(self, part: CallPart) -> str:
        """A call's first part (index, id, type and name) or a piece of its arguments."""
        delta: dict[str, Any] = {"index": part.index}
        if part.id is not None:
            delta["id"] = part.id
            delta["type"] = "function"
            delta["function"] = {"name": part.name, "arguments": part.arguments}
        else:
            delta["function"] = {"arguments": part.arguments}
        return self.frame(
            f'{{"index":0,"delta":{{"tool_calls":[{json.dumps(delta)}]}},'
            '"logprobs":null,"finish_reason":null}'
        )

    def role(self) -> str:
        return self.frame(
            '{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}'
        )

    def finish(self, reason: str) -> str:
        if self.chat:
            choice = f'{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"{reason}"}}'
        else:
            choice = f'{{"index":0,"text":"","logprobs":null,"finish_reason":"{reason}"}}'
        return self.frame(choice)

    def usage(self, done: Done) -> str:
        usage = _usage(done).model_dump_json(exclude_none=True)
        return f'data: {self._head},"choices":[],"usage":{usage}}}\n\n'


async def stream_frames(
    generation: Generation,
    *,
    chat: bool,
    include_usage: bool,
    keepalive_s: float,
    echo_text: str | None = None,
) -> AsyncIterator[bytes]:
    """SSE frames for one generation; cancels the job if the client goes away."""
    frames = _Frames(generation, chat=chat, include_usage=include_usage)
    scanner = generation.tools.scanner() if chat and generation.tools is not None else None
    try:
        first = frames.role() if chat else (frames.content(echo_text, None) if echo_text else "")
        if first:
            yield first.encode()
        async for batch in generation.events(keepalive_s):
            if batch is None:
                yield KEEPALIVE_FRAME
                continue
            out: list[str] = []
            for event in batch:
                if isinstance(event, Delta):
                    if scanner is None:
                        if event.text or event.logprobs:
                            out.append(frames.content(event.text, event.logprobs))
                        continue
                    out.extend(_scanned_frames(frames, scanner.feed(event.text), event.logprobs))
                elif isinstance(event, Done):
                    reason = event.finish_reason
                    if scanner is not None:
                        out.extend(_scanned_frames(frames, scanner.finish(), None))
                        reason = finish_reason(event, len(scanner.calls))
                    out.append(frames.finish(reason))
                    if include_usage:
                        out.append(frames.usage(event))
                    out.append("data: [DONE]\n\n")
                elif isinstance(event, Failed):
                    error = _error_from(event)
                    out.append(f"data: {json.dumps(error.body())}\n\n")
            if out:
                yield "".join(out).encode()
    finally:
        await generation.close()
