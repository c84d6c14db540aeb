"""Tool calls in and out of a model's text, with mlx-lm's parsers.

``ToolFormat`` is what mlx-lm's tokenizer wrapper found in the model's chat template: the
markers around a call (``<tool_call>`` ... ``</tool_call>`` for Qwen2.5 and Hermes) and the
parser of the text between them (``mlx_lm.tool_parsers.<family>.parse_tool_call``).

``ToolCallScanner`` splits generated text into content and calls as it streams: it holds
back text only while it could still be the start of a call marker, hides every byte of call
markup, and holds back whitespace next to calls (so streamed and whole answers agree). The
non-streaming path runs the same scanner over the whole text.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared_schemas.openai import ChatMessage, Tool

logger = logging.getLogger(__name__)

ToolParser = Callable[[str, Any], Any]


@dataclass(frozen=True)
class ToolFormat:
    family: str  # the mlx-lm parser module, e.g. "json_tools"
    start: str
    end: str  # "" when a call runs to the end of the answer (Mistral)
    parser: ToolParser


def tool_format(tokenizer: Any) -> ToolFormat | None:
    """The tool-call format of a loaded model (mlx-lm's ``TokenizerWrapper``), if any."""
    if not getattr(tokenizer, "has_tool_calling", False):
        return None
    parser = tokenizer.tool_parser
    family = str(getattr(parser, "__module__", "")).rsplit(".", 1)[-1] or "unknown"
    return ToolFormat(
        family=family,
        start=str(tokenizer.tool_call_start),
        end=str(tokenizer.tool_call_end or ""),
        parser=parser,
    )


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ParsedCall:
    id: str
    name: str
    arguments: str  # JSON text


def template_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Messages as chat templates read them (transformers' conventions).

    ``developer`` becomes ``system``; a call's arguments are handed over as an object when
    they are JSON (templates write them with ``tojson``), else as the text they were.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        entry: dict[str, Any] = {"role": role, "content": message.text()}
        if message.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": _arguments_object(call.function.arguments),
                    },
                }
                for call in message.tool_calls
            ]
        if message.tool_call_id is not None:
            entry["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            entry["name"] = message.name
        out.append(entry)
    return out


def _arguments_object(arguments: str) -> Any:
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    return value if isinstance(value, dict) else arguments


def template_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    """Tools as chat templates read them: the OpenAI objects, without unset fields."""
    return [tool.model_dump(exclude_none=True) for tool in tools]


def parse_call_text(
    text: str, fmt: ToolFormat, tools: list[dict[str, Any]] | None
) -> list[ParsedCall]:
    """The calls in the text between a call's markers; [] when it does not parse."""
    try:
        parsed = fmt.parser(text, tools)
    except Exception as exc:  # parsers raise ValueError, JSONDecodeError, KeyError ...
        logger.warning("a tool call did not parse (%s): %.200r", type(exc).__name__, text)
        return []
    items = parsed if isinstance(parsed, list) else [parsed]
    calls = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            logger.warning("a tool call without a name: %.200r", text)
            continue
        arguments = item.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        call_id = item.get("id") if isinstance(item.get("id"), str) else None
        calls.append(ParsedCall(call_id or new_call_id(), item["name"], arguments))
    return calls


@dataclass
class ScanOutput:
    """What a piece of generated text turned into: content to show and complete calls."""

    text: str = ""
    calls: list[ParsedCall] = field(default_factory=list)


class ToolCallScanner:
    """Splits streamed text into content and calls; see the module docstring."""

    def __init__(
        self, fmt: ToolFormat, tools: list[dict[str, Any]] | None, *, parallel: bool = True
    ) -> None:
        self._fmt = fmt
        self._tools = tools
        self._parallel = parallel
        self._buffer = ""
        self._in_call = False
        self._space = ""  # whitespace held until text follows it (dropped next to a call)
        self.calls: list[ParsedCall] = []

    def feed(self, piece: str) -> ScanOutput:
        out = ScanOutput()
        self._buffer += piece
        while True:
            if self._in_call:
                if not self._fmt.end:
                    return out
                end = self._buffer.find(self._fmt.end)
                if end < 0:
                    return out
                self._take_call(self._buffer[:end], out)
                self._buffer = self._buffer[end + len(self._fmt.end) :]
                self._in_call = False
                continue
            start = self._buffer.find(self._fmt.start)
            if start >= 0:
                self._text(self._buffer[:start], out, before_call=True)
                self._buffer = self._buffer[start + len(self._fmt.start) :]
                self._in_call = True
                continue
            keep = _partial_tail(self._buffer, self._fmt.start)
            self._text(self._buffer[: len(self._buffer) - keep], out, before_call=False)
            self._buffer = self._buffer[len(self._buffer) - keep :]
            return out

    def finish(self) -> ScanOutput:
        """The rest at the end of generation; an unterminated call is parsed if it can be."""
        out = ScanOutput()
        if self._in_call:
            self._take_call(self._buffer, out)
        else:
            self._text(self._buffer, out, before_call=False)
        self._buffer = ""
        self._in_call = False
        self._space = ""  # trailing whitespace is dropped
        return out

    def _text(self, text: str, out: ScanOutput, *, before_call: bool) -> None:
        text = self._space + text
        self._space = ""
        stripped = text.rstrip()
        if before_call:  # whitespace before a call is dropped
            out.text += stripped
            return
        if not stripped:
            self._space = text
            return
        out.text += stripped
        self._space = text[len(stripped) :]

    def _take_call(self, text: str, out: ScanOutput) -> None:
        if self.calls and not self._parallel:
            return
        calls = parse_call_text(text, self._fmt, self._tools)
        if not self._parallel:
            calls = calls[:1]
        self.calls.extend(calls)
        out.calls.extend(calls)


def _partial_tail(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
