"""Tool calls in and out of a model's text, with mlx-lm's parsers.

``ToolFormat`` is what mlx-lm's tokenizer wrapper found in the model's chat template: the
markers around a call (``<tool_call>`` ... ``</tool_call>`` for Qwen2.5 and Hermes) and the
parser of the text between them (``mlx_lm.tool_parsers.<family>.parse_tool_call``).

``ToolCallScanner`` splits generated text into content and calls as it streams: it holds
back text only while it could still be the start of a call marker, hides every byte of call
markup, and holds back whitespace next to calls (so streamed and whole answers agree). A call
comes out as parts (``CallPart``): its index, id and name first, then its arguments. Where a
call is one JSON object with the name first (``json_tools``: Qwen2.5, Qwen3, Hermes), the
arguments are passed on as they are generated, exactly as the model writes them, and the call
counts once they close as a JSON object; other formats are parsed by mlx-lm's parser when the
call's end marker arrives, and their arguments come in one part. The non-streaming path runs
the same scanner over the whole text, so both assemble the same calls. A call cut off by
``max_tokens`` is left out of a whole answer; in a stream its first parts may already have
gone out (``finish_reason`` is then ``length``).
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


@dataclass(frozen=True)
class CallPart:
    """A piece of a call as it streams. A call's first part has its ``id`` and ``name`` (and
    empty ``arguments``); the parts after it carry argument text, in order."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass
class ScanOutput:
    """What a piece of generated text turned into: content and call parts, in order, and
    the calls completed in it (for readers that take whole calls)."""

    pieces: list[str | CallPart] = field(default_factory=list)
    calls: list[ParsedCall] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(p for p in self.pieces if isinstance(p, str))

    def add_text(self, text: str) -> None:
        if not text:
            return
        if self.pieces and isinstance(self.pieces[-1], str):
            self.pieces[-1] += text
        else:
            self.pieces.append(text)

    def add_part(self, part: CallPart) -> None:
        last = self.pieces[-1] if self.pieces else None
        if (
            isinstance(last, CallPart)
            and last.id is None
            and part.id is None
            and last.index == part.index
        ):
            self.pieces[-1] = CallPart(part.index, last.arguments + part.arguments)
        elif part.id is not None or part.arguments:
            self.pieces.append(part)


# Families whose call is one JSON object, ``{"name": ..., "arguments": {...}}``: the
# arguments are streamed as they are generated.
JSON_CALL_FAMILIES = frozenset({"json_tools"})
_NAME = object()
_HEAD: tuple[object, ...] = ("{", '"name"', ":", _NAME, ",", '"arguments"', ":", "{")
# What JSON may hold outside its strings; anything else ends the arguments (broken).
_JSON_OUTSIDE_STRINGS = frozenset('{}[],: \t\r\n0123456789-+.eEtrufalsn"')


def json_call_head(text: str) -> tuple[str, int] | bool:
    """Where the arguments object of a JSON call starts (``{"name": "<name>", "arguments":
    {``, any whitespace between): the name and the offset of the arguments' ``{``. ``True``
    while ``text`` may still become such a head; ``False`` when it cannot."""
    i, name = 0, None
    for step in _HEAD:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i == len(text):
            return True
        if step is _NAME:
            end = _string_end(text, i)
            if end == 0:
                return False
            if end < 0:
                return True
            try:
                name = json.loads(text[i:end])
            except ValueError:  # a bad escape: not a name mlx-lm's parser would read either
                return False
            i = end
            continue
        assert isinstance(step, str)
        chunk = text[i : i + len(step)]
        if not step.startswith(chunk):
            return False
        if len(chunk) < len(step):
            return True
        i += len(step)
    assert isinstance(name, str)
    return name, i - 1


def _string_end(text: str, start: int) -> int:
    """Just past the JSON string starting at ``start``; -1 if it is not complete yet, 0 if
    there is no string there."""
    if text[start] != '"':
        return 0
    escaped = False
    for i in range(start + 1, len(text)):
        if escaped:
            escaped = False
        elif text[i] == "\\":
            escaped = True
        elif text[i] == '"':
            return i + 1
    return -1


class _ObjectEnd:
    """Where a JSON object ends, as its text arrives (strings and escapes respected)."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def feed(self, text: str) -> tuple[int, bool]:
        """(index just past the object's end or of the first character that cannot be JSON,
        whether it ended well); (-1, True) when the object goes on."""
        for i, ch in enumerate(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch not in _JSON_OUTSIDE_STRINGS:
                return i, False
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            elif ch in "}]":
                self.depth -= 1
                if self.depth == 0:
                    return i + 1, True
        return -1, True


class ToolCallScanner:
    """Splits streamed text into content and calls; see the module docstring.

    After a call's start marker the scanner is in one of these modes: ``head`` (deciding how
    the call streams), ``arguments`` (a JSON call's arguments, streamed as they come),
    ``tail`` (after them, up to the end marker), ``whole`` (a call parsed at its end marker by
    mlx-lm's parser) or ``skip`` (a call past the first when calls are not parallel).
    """

    def __init__(
        self, fmt: ToolFormat, tools: list[dict[str, Any]] | None, *, parallel: bool = True
    ) -> None:
        self._fmt = fmt
        self._tools = tools
        self._parallel = parallel
        self._streams = fmt.family in JSON_CALL_FAMILIES and bool(fmt.end)
        self._buffer = ""
        self._mode: str | None = None  # None: outside a call
        self._space = ""  # whitespace held until text follows it (dropped next to a call)
        self._started = 0  # calls given an index (streamed or parsed)
        self._current: tuple[int, str, str] | None = None  # index, id, name being streamed
        self._arguments: list[str] = []
        self._object = _ObjectEnd()
        self.calls: list[ParsedCall] = []

    def feed(self, piece: str) -> ScanOutput:
        out = ScanOutput()
        self._buffer += piece
        while self._step(out):
            pass
        return out

    def _step(self, out: ScanOutput) -> bool:
        """Consume what can be decided from the buffer; True when it should be called again."""
        mode = self._mode
        if mode is None:
            start = self._buffer.find(self._fmt.start)
            if start < 0:
                keep = _partial_tail(self._buffer, self._fmt.start)
                self._text(self._buffer[: len(self._buffer) - keep], out, before_call=False)
                self._buffer = self._buffer[len(self._buffer) - keep :]
                return False
            self._text(self._buffer[:start], out, before_call=True)
            self._buffer = self._buffer[start + len(self._fmt.start) :]
            if not self._parallel and self._started:
                self._mode = "skip"
            else:
                self._mode = "head" if self._streams else "whole"
            return True
        if mode == "head":
            head = json_call_head(self._buffer)
            if head is True:
                return False
            if head is False:
                self._mode = "whole"
                return True
            name, offset = head
            self._current = (self._started, new_call_id(), name)
            self._started += 1
            self._arguments = []
            self._object = _ObjectEnd()
            out.add_part(CallPart(self._current[0], id=self._current[1], name=name))
            self._buffer = self._buffer[offset:]
            self._mode = "arguments"
            return True
        if mode == "arguments":
            return self._stream_arguments(out)
        end = self._buffer.find(self._fmt.end) if self._fmt.end else -1
        if end < 0:
            return False
        if mode == "whole":
            self._take_call(self._buffer[:end], out)
        self._buffer = self._buffer[end + len(self._fmt.end) :]
        self._mode = None
        return True

    def _stream_arguments(self, out: ScanOutput) -> bool:
        assert self._current is not None
        index, call_id, name = self._current
        end, well = self._object.feed(self._buffer)
        taken = self._buffer if end < 0 else self._buffer[:end]
        if taken:
            self._arguments.append(taken)
            out.add_part(CallPart(index, taken))
        if end < 0:
            self._buffer = ""
            return False
        self._buffer = self._buffer[end:]
        arguments = "".join(self._arguments)
        if well and _is_json_object(arguments):
            call = ParsedCall(call_id, name, arguments)
            self.calls.append(call)
            out.calls.append(call)
        else:
            logger.warning("a tool call's arguments are not JSON: %.200r", arguments)
        self._mode = "tail"
        return True

    def finish(self) -> ScanOutput:
        """The rest at the end of generation; an unterminated call is parsed if it can be
        (one whose arguments were streamed counts only if they were complete)."""
        out = ScanOutput()
        if self._mode in ("head", "whole"):
            self._take_call(self._buffer, out)
        elif self._mode is None:
            self._text(self._buffer, out, before_call=False)
        self._buffer = ""
        self._mode = None
        self._space = ""  # trailing whitespace is dropped
        return out

    def _text(self, text: str, out: ScanOutput, *, before_call: bool) -> None:
        text = self._space + text
        self._space = ""
        stripped = text.rstrip()
        if before_call:  # whitespace before a call is dropped
            out.add_text(stripped)
            return
        if not stripped:
            self._space = text
            return
        out.add_text(stripped)
        self._space = text[len(stripped) :]

    def _take_call(self, text: str, out: ScanOutput) -> None:
        calls = parse_call_text(text, self._fmt, self._tools)
        if not self._parallel:
            calls = calls[: 1 - min(self._started, 1)]
        for call in calls:
            index = self._started
            self._started += 1
            self.calls.append(call)
            out.calls.append(call)
            out.add_part(CallPart(index, id=call.id, name=call.name))
            out.add_part(CallPart(index, call.arguments))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _partial_tail(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
