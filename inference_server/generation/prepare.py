"""Work on a loaded model's tokenizer that runs off the event loop, in a worker thread.

- ``tokenize``: refuses prompt text that cannot fit the context before tokenizing it (no
  token spells more characters than the longest entry of the vocabulary, so a prompt longer
  than ``context x that length`` has too many tokens), then tokenizes under the runtime's
  tokenizer lock. Chat templates that fail on the messages are a 400, not a 500.
- ``constraint``: the grammar processor of a request (``constraints.grammar_source``),
  compiled once per grammar in the runtime's ``GrammarCache``.
- ``check_plan``: the request's schemas compiled alone, so a bad one is refused (400
  ``invalid_schema``) before a model is loaded for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from inference_server.errors import BadRequestError, ContextLengthExceededError
from inference_server.generation.constraints import Markers, OutputPlan, grammar_source
from inference_server.generation.grammar import (
    TEMPLATE_JSON,
    Grammar,
    GrammarCache,
    GrammarProcessor,
    json_schema_grammar,
)
from inference_server.generation.tools import ToolFormat

logger = logging.getLogger(__name__)


def max_token_chars(tokenizer: Any) -> int:
    """The most characters one token of this tokenizer can stand for."""
    vocab = tokenizer.get_vocab()
    longest = max((len(token) for token in vocab), default=1)
    return max(1, longest)


def _grammars(runtime: Any) -> GrammarCache:
    if runtime.grammars is None:
        runtime.grammars = GrammarCache(
            runtime.tokenizer, runtime.vocab_size, sorted(runtime.tokenizer.eos_token_ids)
        )
    cache: GrammarCache = runtime.grammars
    return cache


def tokenize(
    runtime: Any,
    encode: Callable[[Any], list[int]],
    *,
    prompt_chars: int,
    context_length: int | None,
    param: str,
) -> list[int]:
    """Tokenize a prompt (see the module docstring); runs in a worker thread."""
    with runtime.tokenizer_lock:
        _check_length(runtime, prompt_chars, context_length, param)
        with template_errors():
            return encode(runtime.tokenizer)


def check_length(
    runtime: Any, *, prompt_chars: int, context_length: int | None, param: str
) -> None:
    """Only the length bound of ``tokenize``, for prompts tokenized elsewhere (a
    vision-language model's processor); runs in a worker thread."""
    with runtime.tokenizer_lock:
        _check_length(runtime, prompt_chars, context_length, param)


def _check_length(runtime: Any, prompt_chars: int, context_length: int | None, param: str) -> None:
    if context_length is None:
        return
    if runtime.max_token_chars is None:
        runtime.max_token_chars = max_token_chars(runtime.tokenizer)
    bound = context_length * runtime.max_token_chars
    if prompt_chars > bound:
        raise ContextLengthExceededError(
            f"This model's maximum context length is {context_length} tokens; the "
            f"prompt's {prompt_chars} characters are more than that many tokens can "
            f"hold ({bound} at most)",
            param=param,
            details={"context_length": context_length, "prompt_chars": prompt_chars},
        )


@contextlib.contextmanager
def template_errors() -> Iterator[None]:
    """A chat template that fails on the messages is the request's fault: 400."""
    try:
        yield
    except (ValueError, TypeError, KeyError) as exc:
        raise _template_error(exc) from None
    except Exception as exc:
        if type(exc).__module__.startswith("jinja2"):
            raise _template_error(exc) from None
        raise


def _template_error(exc: BaseException) -> BadRequestError:
    return BadRequestError(
        f"the model's chat template cannot render these messages: {str(exc)[:300]}",
        param="messages",
        code="chat_template_error",
    )


def markers(cache: GrammarCache, runtime: Any, fmt: ToolFormat) -> Markers:
    """The call markers as grammar terminals: ``<[id]>`` for a single special token."""

    def terminal(text: str) -> tuple[str, bool]:
        ids = list(runtime.tokenizer.encode(text, add_special_tokens=False))
        if len(ids) == 1 and cache.is_special(ids[0]):
            return f"<[{ids[0]}]>", True
        return json.dumps(text), False

    start, start_is_token = terminal(fmt.start)
    end, _ = terminal(fmt.end) if fmt.end else ("", False)
    return Markers(start=start, end=end, start_is_token=start_is_token)


def constraint(runtime: Any, plan: OutputPlan, fmt: ToolFormat | None) -> GrammarProcessor | None:
    """The logits processor that enforces ``plan`` on this model, or None."""
    with runtime.tokenizer_lock:
        cache = _grammars(runtime)
        cache.prepare()
        marks = markers(cache, runtime, fmt) if fmt is not None and plan.tools else None
    source = grammar_source(plan, fmt.family if fmt else None, marks)
    if source is None:
        return None
    import llguidance

    where = plan.schema_param if plan.schema is not None else "tools"
    grammar = Grammar(llguidance.LLMatcher.grammar_from_lark(source), where)
    matcher = cache.matcher(grammar)
    return GrammarProcessor(matcher, cache.vocab_size, cache.eos_token_ids)


def check_plan(plan: OutputPlan) -> None:
    """Refuse the schemas of a request that cannot be compiled, before any model loads."""
    if plan.schema is not None:
        json_schema_grammar(plan.schema, plan.schema_param)
    if plan.tools is None:
        return
    for index, tool in enumerate(plan.tools.tools):
        parameters = tool["function"].get("parameters")
        if parameters is not None:
            json_schema_grammar(
                parameters, f"tools.{index}.function.parameters", separators=TEMPLATE_JSON
            )
