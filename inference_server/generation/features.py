"""What the generation API serves, and what each model can be asked for.

``FEATURES`` is the server's list (``/admin/capabilities`` reports it). A model's
``capabilities`` (on ``/v1/models`` entries) are read from its files without loading it:
``chat`` when it has a chat template, ``tools`` when that template writes tool calls in a
format mlx-lm has a parser for, and the features every model gets (``completion``,
``json_object``, ``json_schema``, ``logprobs``).

``TOOL_CALL_MARKERS`` mirrors how mlx-lm's tokenizer loader recognises a template's tool-call
format (``mlx_lm.tokenizer_utils._infer_tool_parser``); a test checks the two agree.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

FEATURES: tuple[str, ...] = (
    "chat",
    "completion",
    "stream",
    "stream_usage",
    "stop",
    "seed",
    "penalties",
    "keep_alive",
    "logprobs",
    "logit_bias",
    "json_object",
    "json_schema",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "embeddings",
    "vision",
)
MODEL_FEATURES: tuple[str, ...] = ("completion", "json_object", "json_schema", "logprobs")

# (markers that must all appear in the chat template, mlx-lm parser family)
TOOL_CALL_MARKERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("<minimax:tool_call>",), "minimax_m2"),
    (("<|tool_call>", "<tool_call|>"), "gemma4"),
    (("<start_function_call>",), "function_gemma"),
    (("<longcat_tool_call>",), "longcat"),
    (("<arg_key>",), "glm47"),
    (("<|tool_list_start|>",), "pythonic"),
    (("<|tool_call_start|>",), "pythonic"),
    (("<tool_call>\\n<function=",), "qwen3_coder"),
    (("<tool_call>\n<function=",), "qwen3_coder"),
    (("<|tool_calls_section_begin|>",), "kimi_k2"),
    (('<function name="', '<param name="'), "minicpm5"),
    (("[TOOL_CALLS]",), "mistral"),
    (("<atem:function_calls>",), "muse_spark"),
    (("<tool_call>", "tool_call.name"), "json_tools"),
)


def template_tool_family(template: str | None) -> str | None:
    """The mlx-lm tool parser a chat template's format maps to, if any."""
    if not template:
        return None
    for markers, family in TOOL_CALL_MARKERS:
        if all(marker in template for marker in markers):
            return family
    return None


def read_chat_template(model_dir: Path) -> tuple[str | None, dict[str, Any]]:
    """The chat template (``tokenizer_config.json`` or ``chat_template.jinja``) and the
    tokenizer config; (None, {}) when unreadable."""
    config: dict[str, Any] = {}
    try:
        loaded = json.loads((model_dir / "tokenizer_config.json").read_text())
        if isinstance(loaded, dict):
            config = loaded
    except (OSError, ValueError):
        pass
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        texts = [t.get("template") for t in template if isinstance(t, dict)]
        template = "\n".join(t for t in texts if isinstance(t, str)) or None
    if not isinstance(template, str):
        template = None
        with contextlib.suppress(OSError):
            template = (model_dir / "chat_template.jinja").read_text()
    return template, config


def model_capabilities(model_dir: Path | None) -> list[str]:
    """What a model on disk can be asked for here (see the module docstring)."""
    if model_dir is None:
        return []
    template, config = read_chat_template(model_dir)
    capabilities = ["chat"] if template else []
    capabilities += MODEL_FEATURES
    family = config.get("tool_parser_type") or template_tool_family(template)
    if template and family:
        capabilities.append("tools")
    return capabilities
