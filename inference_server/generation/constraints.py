"""What a request constrains, and the grammar that enforces it (pure; no model, no MLX).

``plan_output`` reads a request: the JSON schema its answer must follow (``response_format``
json_object / json_schema, or Ollama's ``format``) and how it uses tools (``tool_choice``
auto / required / a named function, ``parallel_tool_calls``). ``grammar_source`` turns a plan
into what llguidance compiles, given how the model writes a call (its ``ToolFormat`` family)
and how its call markers are spelled as grammar terminals (a string, or ``<[id]>`` when the
marker is one special token).

Tool calls are constrained for the families whose call syntax is written here:
``json_tools`` (Qwen2.5, Qwen3, Hermes: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n
</tool_call>``). With ``auto`` the text before a call is free and every call the model starts
follows its function's schema; ``required`` and a named function allow calls only.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Literal

from inference_server.errors import BadRequestError
from inference_server.generation.grammar import COMPACT_JSON, TEMPLATE_JSON
from shared_schemas.openai import (
    ChatCompletionRequest,
    CompletionRequest,
    JSONObjectFormat,
    JSONSchemaResponseFormat,
    NamedToolChoice,
)

ToolMode = Literal["auto", "required", "named"]
CONSTRAINED_FAMILIES = frozenset({"json_tools"})
ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class ToolPlan:
    tools: list[dict[str, Any]]  # OpenAI tool objects, as the chat template reads them
    mode: ToolMode
    named: str | None
    parallel: bool

    def allowed(self) -> list[dict[str, Any]]:
        """The functions a call may name."""
        functions = [t["function"] for t in self.tools]
        if self.named is not None:
            return [f for f in functions if f["name"] == self.named]
        return functions


@dataclass(frozen=True)
class OutputPlan:
    schema: dict[str, Any] | None  # the JSON schema of the answer, when one is asked for
    schema_param: str  # the request field it came from
    tools: ToolPlan | None

    @property
    def constrained(self) -> bool:
        return self.schema is not None or (self.tools is not None and self.tools.mode != "auto")


def check_request(request: ChatCompletionRequest | CompletionRequest) -> None:
    """Refuse combinations of fields a schema cannot state (400, ``param`` set)."""
    if request.format is not None and request.response_format is not None:
        raise BadRequestError(
            "give either 'response_format' or 'format' (its synonym), not both",
            param="format",
            code="conflicting_parameters",
        )
    if not isinstance(request, ChatCompletionRequest):
        return
    choice = request.tool_choice
    if choice not in (None, "none", "auto") and not request.tools:
        raise BadRequestError(
            "tool_choice 'required' or a named function needs 'tools'",
            param="tool_choice",
            code="conflicting_parameters",
        )
    if isinstance(choice, NamedToolChoice):
        names = {t.function.name for t in request.tools or []}
        if choice.function.name not in names:
            raise BadRequestError(
                f"tool_choice names '{choice.function.name}', which is not one of the tools",
                param="tool_choice.function.name",
                code="conflicting_parameters",
            )
    for index, message in enumerate(request.messages):
        if message.role == "tool" and not message.tool_call_id:
            raise BadRequestError(
                "a message with role 'tool' needs 'tool_call_id'",
                param=f"messages.{index}.tool_call_id",
                code="invalid_message",
            )
        if message.tool_calls and message.role != "assistant":
            raise BadRequestError(
                "only assistant messages carry 'tool_calls'",
                param=f"messages.{index}.tool_calls",
                code="invalid_message",
            )


def answer_schema(request: ChatCompletionRequest | CompletionRequest) -> tuple[Any, str]:
    """The JSON schema the answer must follow (None for free text) and the field it is from."""
    if request.format is not None:
        return (ANY_OBJECT if request.format == "json" else request.format), "format"
    fmt = request.response_format
    if isinstance(fmt, JSONObjectFormat):
        return ANY_OBJECT, "response_format"
    if isinstance(fmt, JSONSchemaResponseFormat):
        schema = fmt.json_schema.schema_
        return ({} if schema is None else schema), "response_format.json_schema.schema"
    return None, "response_format"


def plan_output(request: ChatCompletionRequest | CompletionRequest) -> OutputPlan:
    """What ``request`` constrains (after ``check_request`` accepted it)."""
    schema, param = answer_schema(request)
    tools = None
    if isinstance(request, ChatCompletionRequest) and request.tools:
        choice = request.tool_choice or "auto"
        if choice != "none":
            named = choice.function.name if isinstance(choice, NamedToolChoice) else None
            mode: ToolMode = "named" if named else ("required" if choice == "required" else "auto")
            tools = ToolPlan(
                tools=[t.model_dump(exclude_none=True) for t in request.tools],
                mode=mode,
                named=named,
                parallel=request.parallel_tool_calls is not False,
            )
    return OutputPlan(schema=schema, schema_param=param, tools=tools)


def call_schema(function: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of one ``json_tools`` call: the function's name, then its arguments.

    The arguments' ``$defs`` / ``definitions`` move to the root and every other local
    reference is re-rooted, so references resolve inside the wrapper.
    """
    params = copy.deepcopy(function.get("parameters") or ANY_OBJECT)
    root: dict[str, Any] = {"x-guidance": TEMPLATE_JSON}
    for key in ("$defs", "definitions"):
        if isinstance(params, dict) and key in params:
            root[key] = params.pop(key)
    params = _reroot(params, "#/properties/arguments")
    root.update(
        {
            "type": "object",
            "properties": {"name": {"const": function["name"]}, "arguments": params},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
    )
    return root


def _reroot(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                kept = value.startswith(("#/$defs/", "#/definitions/"))
                out[key] = value if kept else prefix + value[1:]
            else:
                out[key] = _reroot(value, prefix)
        return out
    if isinstance(node, list):
        return [_reroot(item, prefix) for item in node]
    return node


def schema_with_options(schema: dict[str, Any] | bool) -> Any:
    if isinstance(schema, dict):
        return {**schema, "x-guidance": COMPACT_JSON}
    return schema


@dataclass(frozen=True)
class Markers:
    """A model's call markers as grammar terminals (a quoted string or ``<[id]>``)."""

    start: str
    end: str
    start_is_token: bool


def grammar_source(plan: OutputPlan, family: str | None, markers: Markers | None) -> str | None:
    """The Lark grammar for ``plan`` (None when nothing is constrained).

    ``family`` and ``markers`` describe the model's calls; they are needed only when the plan
    has tools and the family is one of ``CONSTRAINED_FAMILIES``.
    """
    tools = plan.tools
    if tools is not None and (family not in CONSTRAINED_FAMILIES or markers is None):
        tools = None  # free text, parsed afterwards (``auto`` only; see the service)
    if tools is None:
        if plan.schema is None:
            return None
        return "start: " + _json(schema_with_options(plan.schema)) + "\n"
    bodies = " | ".join(_json(call_schema(f)) for f in tools.allowed())
    assert markers is not None
    body = f'"\\n" ({bodies}) "\\n" {markers.end}'
    lines = ["%llguidance {}"]
    if tools.mode != "auto" or plan.schema is not None:
        # Calls only (or, with auto and a response schema, calls or the JSON answer).
        lines.append(f"call: {markers.start} {body}")
        calls = 'call ("\\n" call)*' if tools.parallel else "call"
        if tools.mode == "auto":
            lines.append(f"start: {calls} | {_json(schema_with_options(plan.schema or {}))}")
        else:
            lines.append(f"start: {calls}")
        return "\n".join(lines) + "\n"
    # auto: free text; a call may start anywhere, and then follows its schema.
    lines.append("TEXT: /(.|\\n)*/")
    if markers.start_is_token:
        lines.append(f"call: TEXT {markers.start} {body}")
    else:
        lines.append(f"call_start[lazy]: TEXT {markers.start}")
        lines.append(f"call: call_start {body}")
    lines.append("start: call* TEXT" if tools.parallel else "start: TEXT | call")
    return "\n".join(lines) + "\n"


def _json(schema: Any) -> str:
    return "%json " + json.dumps(schema)
