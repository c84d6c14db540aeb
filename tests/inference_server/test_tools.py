"""Tool calls: mlx-lm's parsers on recorded outputs, the streaming scanner, the grammars (pure)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from inference_server.generation.constraints import (
    Markers,
    OutputPlan,
    ToolPlan,
    call_schema,
    grammar_source,
)
from inference_server.generation.features import TOOL_CALL_MARKERS, template_tool_family
from inference_server.generation.tools import CallPart, ToolCallScanner, ToolFormat, json_call_head
from modelyard_dev.tiny_model import PLAIN_CHAT_TEMPLATE, TOOLS_CHAT_TEMPLATE

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def family(name: str) -> ToolFormat:
    module: Any = importlib.import_module(f"mlx_lm.tool_parsers.{name}")
    return ToolFormat(name, module.tool_call_start, module.tool_call_end, module.parse_tool_call)


# Outputs written from each family's documented format, as a model writes them.
RECORDED = [
    pytest.param(
        "json_tools",
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", '
        '"days": 2}}\n</tool_call>',
        "Let me check.",
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome", "days": 2})],
        id="qwen2.5-hermes",
    ),
    pytest.param(
        "json_tools",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
        "",
        [("get_weather", {"city": "Oslo"})],
        id="qwen2.5-call-only",
    ),
    pytest.param(
        "qwen3_coder",
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
        "",
        [("get_weather", {"city": "Paris", "days": 3})],
        id="qwen3-coder",
    ),
    pytest.param(
        "mistral",
        'Sure. [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
        "Sure.",
        [("get_weather", {"city": "Paris"})],
        id="mistral-args",
    ),
    pytest.param(
        "mistral",
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Lyon"}}]',
        "",
        [("get_weather", {"city": "Lyon"})],
        id="mistral-json-list",
    ),
    pytest.param(
        "pythonic",
        '<|tool_call_start|>[get_weather(city="Paris", days=2)]<|tool_call_end|>Checking.',
        "Checking.",
        [("get_weather", {"city": "Paris", "days": 2})],
        id="lfm2-pythonic",
    ),
]


def scan(fmt: ToolFormat, pieces: list[str]) -> tuple[str, list[tuple[str, Any]], list[str]]:
    scanner = ToolCallScanner(fmt, [WEATHER])
    shown: list[str] = []
    for piece in pieces:
        shown.append(scanner.feed(piece).text)
    shown.append(scanner.finish().text)
    calls = [(c.name, json.loads(c.arguments)) for c in scanner.calls]
    return "".join(shown), calls, shown


@pytest.mark.parametrize(("name", "output", "content", "calls"), RECORDED)
def test_recorded_outputs_parse_with_mlx_lm_parsers(
    name: str, output: str, content: str, calls: list[tuple[str, Any]]
) -> None:
    fmt = family(name)
    whole = scan(fmt, [output])
    assert whole[:2] == (content, calls)
    # Streamed one character at a time: the same content and calls, and no markup shown.
    text, streamed_calls, shown = scan(fmt, list(output))
    assert (text, streamed_calls) == (content, calls)
    markup = [fmt.start, *([fmt.end] if fmt.end else []), "[ARGS]", '"arguments"']
    assert not any(m in text for m in markup)
    # Text is held back only while it could be the start of a call: content written before
    # a call arrives by the time the marker's first character is read.
    before_marker = output.index(fmt.start)
    if content and content in output[:before_marker]:
        assert "".join(shown[: before_marker + 1]).strip() == content


def test_text_is_held_only_while_it_could_start_a_call() -> None:
    scanner = ToolCallScanner(family("json_tools"), None)
    assert scanner.feed("a <tool").text == "a"
    assert scanner.feed("box> b").text == " <toolbox> b"  # not a call after all
    assert scanner.feed("\n").text == ""  # whitespace waits for what follows
    assert scanner.feed("c").text == "\nc"
    assert scanner.finish().text == ""


def test_broken_and_unterminated_calls_are_dropped_not_shown() -> None:
    text, calls, _ = scan(
        family("json_tools"),
        ['<tool_call>\n{not json}\n</tool_call>ok <tool_call>\n{"name": "get_weat'],
    )
    assert (text, calls) == ("ok", [])


def test_parallel_false_keeps_the_first_call() -> None:
    scanner = ToolCallScanner(family("json_tools"), None, parallel=False)
    two = '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n' * 2
    scanner.feed(two)
    scanner.finish()
    assert [c.name for c in scanner.calls] == ["a"]


def stream_parts(fmt: ToolFormat, pieces: list[str], **kw: Any) -> list[list[str | CallPart]]:
    """What each fed piece (then the end) turned into."""
    scanner = ToolCallScanner(fmt, [WEATHER], **kw)
    return [scanner.feed(p).pieces for p in pieces] + [scanner.finish().pieces]


def assemble(outputs: list[list[str | CallPart]]) -> tuple[str, list[tuple[str, str, str]]]:
    """Content and (id, name, arguments) per call, as OpenAI clients assemble a stream."""
    content = ""
    calls: dict[int, list[str]] = {}
    for piece in (p for out in outputs for p in out):
        if isinstance(piece, str):
            content += piece
            continue
        if piece.id is not None:
            assert piece.index not in calls and piece.arguments == ""
            calls[piece.index] = [piece.id, piece.name or "", ""]
        calls[piece.index][2] += piece.arguments
    return content, [(c[0], c[1], c[2]) for _, c in sorted(calls.items())]


def test_json_call_arguments_stream_as_they_are_generated() -> None:
    fmt = family("json_tools")
    arguments = '{"city": "Par}is</tool_call>\\"{", "days": [1, {"x": null}]}'
    output = (
        'Checking. <tool_call>\n{"name": "get_weather", "arguments": '
        + arguments
        + '}\n</tool_call> then <tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    )
    outputs = stream_parts(fmt, list(output))
    content, calls = assemble(outputs)
    assert content == "Checking. then"
    assert [(name, args) for _, name, args in calls] == [
        ("get_weather", arguments),
        ("get_time", "{}"),
    ]
    # The call's id and name come out as soon as the head is read, each argument character
    # as soon as it is generated: nothing of it waits for the call to close.
    fed = output.index('"arguments": {"city": "Pa') + len('"arguments": {"city": "Pa')
    _, so_far = assemble(outputs[:fed])
    assert [(name, args) for _, name, args in so_far] == [("get_weather", '{"city": "Pa')]
    # The same text in one piece (the non-streamed path) gives the same calls and content.
    scanner = ToolCallScanner(fmt, [WEATHER])
    whole = scanner.feed(output).text + scanner.finish().text
    assert whole == content
    assert [(c.name, c.arguments) for c in scanner.calls] == [(n, a) for _, n, a in calls]
    # Readers of whole calls get each one in the output of the piece that completed it.
    scanner = ToolCallScanner(fmt, [WEATHER])
    completed = [c for ch in output for c in scanner.feed(ch).calls] + scanner.finish().calls
    assert completed == scanner.calls and len(completed) == 2


def test_calls_of_another_shape_are_parsed_whole() -> None:
    fmt = family("json_tools")
    output = '<tool_call>\n{"arguments": {"city": "Oslo"}, "name": "get_weather"}\n</tool_call>'
    outputs = stream_parts(fmt, list(output))
    _, calls = assemble(outputs)
    assert [(n, json.loads(a)) for _, n, a in calls] == [("get_weather", {"city": "Oslo"})]
    parts = [p for out in outputs for p in out]
    assert len(parts) == 2 and outputs[-2] == parts  # both when the end marker arrived


def test_broken_cut_off_and_extra_streamed_calls_do_not_count() -> None:
    fmt = family("json_tools")
    broken = '<tool_call>\n{"name": "a", "arguments": {"x": 1 <oops>\n</tool_call>after'
    scanner = ToolCallScanner(fmt, None)
    assert scanner.feed(broken).text + scanner.finish().text == "after"
    assert scanner.calls == []
    cut = ToolCallScanner(fmt, None)
    out = cut.feed('<tool_call>\n{"name": "a", "arguments": {"x": ')
    assert [p.arguments for p in out.pieces if isinstance(p, CallPart)] == ["", '{"x": ']
    assert cut.finish().pieces == [] and cut.calls == []
    single = '<tool_call>\n{"name": "a", "arguments": {"n": 1}}\n</tool_call>\n'
    outputs = stream_parts(fmt, list(single * 2), parallel=False)
    assert [(n, a) for _, n, a in assemble(outputs)[1]] == [("a", '{"n": 1}')]


def test_json_call_head() -> None:
    head = '{"name": "get_weather", "arguments": {'
    for size in range(len(head)):
        assert json_call_head("\n" + head[:size]) is True
    assert json_call_head("\n" + head + '"c') == ("get_weather", len(head))
    spaced = '{ "name":"a\\"b" ,"arguments":{}'
    assert json_call_head(spaced) == ('a"b', spaced.rindex("{"))
    assert json_call_head('{"arguments": {}}') is False
    assert json_call_head('{"name": 3, "arguments": {}}') is False
    assert json_call_head('[{"name": "a"}]') is False
    assert json_call_head('{"name": "a\\x", "arguments": {}}') is False  # a bad escape


def test_markers_agree_with_mlx_lm() -> None:
    from mlx_lm.tokenizer_utils import _infer_tool_parser

    class Shim:
        def __init__(self, template: str) -> None:
            self.chat_template = template

        def get_vocab(self) -> dict[str, int]:
            return {}

    for markers, name in TOOL_CALL_MARKERS:
        template = "{{ tools }} " + " ".join(markers)
        assert template_tool_family(template) == _infer_tool_parser(Shim(template)) == name
    assert template_tool_family(TOOLS_CHAT_TEMPLATE) == "json_tools"
    assert template_tool_family(PLAIN_CHAT_TEMPLATE) is None


def test_call_schema_reroots_references() -> None:
    function = {
        "name": "f",
        "parameters": {
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/properties/a"}},
            "$defs": {"A": {"type": "integer"}},
        },
    }
    schema = call_schema(function)
    assert schema["$defs"] == {"A": {"type": "integer"}}
    args = schema["properties"]["arguments"]
    assert args["properties"]["a"] == {"$ref": "#/$defs/A"}
    assert args["properties"]["b"] == {"$ref": "#/properties/arguments/properties/a"}
    assert schema["properties"]["name"] == {"const": "f"}


MARKERS = Markers(json.dumps("<tool_call>"), json.dumps("</tool_call>"), start_is_token=False)


def plan(mode: str, *, schema: Any = None, parallel: bool = True) -> OutputPlan:
    named = "get_weather" if mode == "named" else None
    tools = ToolPlan([WEATHER], mode, named, parallel)  # type: ignore[arg-type]
    return OutputPlan(schema=schema, schema_param="response_format", tools=tools)


def test_grammar_sources() -> None:
    assert grammar_source(OutputPlan(None, "response_format", None), None, None) is None
    only_json = grammar_source(OutputPlan({"type": "object"}, "format", None), None, None)
    assert only_json is not None and only_json.startswith("start: %json")
    required = grammar_source(plan("required"), "json_tools", MARKERS)
    assert required is not None and 'start: call ("\\n" call)*' in required
    single = grammar_source(plan("named", parallel=False), "json_tools", MARKERS)
    assert single is not None and "start: call\n" in single
    auto = grammar_source(plan("auto"), "json_tools", MARKERS)
    assert auto is not None and "call_start[lazy]" in auto and "start: call* TEXT" in auto
    # A family whose syntax is not written here: auto is not constrained.
    assert grammar_source(plan("auto"), "mistral", MARKERS) is None


@pytest.mark.parametrize(
    ("mode", "text", "accepted"),
    [
        (
            "required",
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "x"}}\n</tool_call>',
            True,
        ),
        ("required", "plain text", False),
        ("required", '<tool_call>\n{"name": "other", "arguments": {}}\n</tool_call>', False),
        ("auto", "plain text", True),
        (
            "auto",
            'hi <tool_call>\n{"name": "get_weather", "arguments": {"city": "x"}}\n</tool_call>',
            True,
        ),
        ("auto", "hi <tool_call>\nnot json", False),
    ],
)
def test_grammars_accept_exactly_calls_that_validate(mode: str, text: str, accepted: bool) -> None:
    import llguidance

    source = grammar_source(plan(mode), "json_tools", MARKERS)
    assert source is not None
    grammar = llguidance.LLMatcher.grammar_from_lark(source)
    tokenizer = llguidance.LLTokenizer("byte")  # one token per byte
    matcher = llguidance.LLMatcher(tokenizer, grammar)
    data = list(text.encode())
    consumed = matcher.try_consume_tokens(data)
    assert (consumed == len(data) and matcher.is_accepting()) is accepted
