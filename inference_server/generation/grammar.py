"""Constrained decoding with llguidance: grammars, their cache, and the logits processor.

A ``Grammar`` is the text llguidance compiles (a JSON schema or a Lark grammar that may embed
JSON schemas), checked without a model by ``check_grammar`` so a bad schema is refused
before anything loads. Each loaded model gets a ``GrammarCache``: its llguidance tokenizer
(built once) and compiled matchers keyed by the grammar's hash; a request gets a copy of the
cached matcher. ``GrammarProcessor`` is the per-sequence logits processor mlx-lm's batch
calls: it advances the matcher by the token just sampled and masks every token the grammar
does not allow next (the end-of-sequence token only once the grammar is complete).

llguidance was chosen by measurement over xgrammar and outlines-core (``bench/
grammar_engines.py``, figures in README): the lowest per-token cost on a batch of 8 with
these vocabularies, no torch dependency, numpy bitmasks, and errors that name what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from inference_server.errors import InvalidSchemaError

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

logger = logging.getLogger(__name__)

# JSON between tokens: no free whitespace, "," and ":" as separators. Overrides anything a
# schema asks for in ``x-guidance``, so a model cannot spend its tokens on blanks.
COMPACT_JSON: JsonCompileOptions = {
    "whitespace_flexible": False,
    "item_separator": ",",
    "key_separator": ":",
}
# How the chat templates of the tool-calling families write arguments (``tojson``).
TEMPLATE_JSON: JsonCompileOptions = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}
CACHE_ENTRIES = 64
_MAX_POINTER_PROBES = 256


@dataclass(frozen=True)
class Grammar:
    """Text llguidance compiles, and how it reads in an error message."""

    text: str
    source: str  # "response_format", "format", "tools" ...

    @property
    def key(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def json_schema_grammar(
    schema: dict[str, Any], source: str, separators: JsonCompileOptions | None = None
) -> Grammar:
    import llguidance

    options = separators or COMPACT_JSON
    try:
        text = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=options)
    except ValueError as exc:  # not an object where one is needed
        raise InvalidSchemaError(
            f"the schema cannot be used: {exc}", param=source, details={"pointer": ""}
        ) from None
    grammar = Grammar(text, source)
    check_grammar(grammar, schema)
    return grammar


def lark_grammar(lark: str, source: str, schemas: dict[str, Any] | None = None) -> Grammar:
    """A Lark grammar; ``schemas`` are the JSON schemas it embeds, named for error messages."""
    import llguidance

    grammar = Grammar(llguidance.LLMatcher.grammar_from_lark(lark), source)
    check_grammar(grammar, None, schemas)
    return grammar


def check_grammar(
    grammar: Grammar,
    schema: dict[str, Any] | None,
    embedded: dict[str, Any] | None = None,
) -> None:
    """Refuse a grammar llguidance cannot compile: 400 ``invalid_schema`` with its reason and
    the JSON pointer of the smallest part of the schema that fails the same way."""
    failed, messages = _validate(grammar.text)
    if not failed:
        return
    reason = messages[0] if messages else "the schema cannot be compiled"
    pointer = ""
    where = grammar.source
    if schema is not None:
        pointer = locate_error(schema, reason)
    elif embedded:
        for name, part in embedded.items():
            if _schema_fails(part):
                where, pointer = name, locate_error(part, _schema_reason(part))
                break
    message = f"{where}: the schema cannot be used: {reason}"
    if pointer:
        message += f" (at {pointer})"
    raise InvalidSchemaError(
        message, param=grammar.source, details={"reason": reason, "pointer": pointer}
    )


def _validate(text: str) -> tuple[bool, list[str]]:
    import llguidance

    failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(text)
    return bool(failed), [str(m) for m in messages]


def _schema_reason(schema: Any) -> str:
    import llguidance

    try:
        text = llguidance.LLMatcher.grammar_from_json_schema(
            json.dumps(schema), overrides=COMPACT_JSON
        )
    except ValueError as exc:
        return str(exc)
    failed, messages = _validate(text)
    return messages[0] if failed and messages else ""


def _schema_fails(schema: Any) -> bool:
    return bool(_schema_reason(schema))


def locate_error(schema: dict[str, Any], reason: str) -> str:
    """The JSON pointer of the deepest subschema that fails with ``reason`` on its own.

    Subschemas are compiled alone, with the root's ``$defs`` / ``definitions`` beside them so
    references still resolve; the root (``""``) when no smaller part reproduces the error.
    """
    defs = {k: schema[k] for k in ("$defs", "definitions") if isinstance(schema.get(k), dict)}
    best = ""
    for probes, (pointer, sub) in enumerate(_subschemas(schema, "")):
        if probes >= _MAX_POINTER_PROBES:
            break
        if not pointer or not isinstance(sub, dict):
            continue
        candidate = {**defs, **sub} if defs else sub
        if _schema_reason(candidate) == reason and len(pointer) > len(best):
            best = pointer
    return best


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def _subschemas(node: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if not isinstance(node, dict):
        return
    for key in _SCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                yield from _subschemas(child, f"{pointer}/{_escape(key)}/{_escape(str(name))}")
    for key in _SCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                yield from _subschemas(child, f"{pointer}/{key}/{index}")
    for key in _SCHEMA_ONE:
        child = node.get(key)
        if isinstance(child, dict):
            yield from _subschemas(child, f"{pointer}/{key}")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class GrammarCache:
    """Compiled grammars for one tokenizer, by grammar hash (thread-safe).

    The llguidance tokenizer is built on first use (about a second for a 150k vocabulary).
    ``matcher`` compiles a grammar once and hands out copies; compiling releases the GIL.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, eos_token_ids: list[int]) -> None:
        self._hf = getattr(tokenizer, "_tokenizer", tokenizer)
        self.vocab_size = vocab_size
        self.eos_token_ids = sorted(eos_token_ids)
        self._ll_tokenizer: Any = None
        self._compiled: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def prepare(self) -> None:
        """Build the llguidance tokenizer now (call it where the tokenizer may be used)."""
        self._tokenizer()

    def is_special(self, token: int) -> bool:
        """Whether llguidance sees ``token`` as a special token (not as its bytes)."""
        return bool(self._tokenizer().is_special_token(token))

    def _tokenizer(self) -> Any:
        with self._lock:
            if self._ll_tokenizer is None:
                import llguidance.hf

                self._ll_tokenizer = llguidance.hf.from_tokenizer(
                    self._hf, n_vocab=self.vocab_size, eos_token=self.eos_token_ids
                )
            return self._ll_tokenizer

    def matcher(self, grammar: Grammar) -> Any:
        """A fresh matcher for ``grammar`` (compiled once per cache)."""
        key = grammar.key
        with self._lock:
            pristine = self._compiled.get(key)
            if pristine is not None:
                self._compiled.move_to_end(key)
                self.hits += 1
                return pristine.deep_copy()
        import llguidance

        pristine = llguidance.LLMatcher(self._tokenizer(), grammar.text, log_level=0)
        if pristine.is_error():
            raise InvalidSchemaError(
                f"{grammar.source}: the grammar cannot be used: {pristine.get_error()}",
                param=grammar.source,
                details={"reason": pristine.get_error(), "pointer": ""},
            )
        with self._lock:
            self.misses += 1
            self._compiled[key] = pristine
            self._compiled.move_to_end(key)
            while len(self._compiled) > CACHE_ENTRIES:
                self._compiled.popitem(last=False)
        return pristine.deep_copy()


def apply_bitmask(logits: Any, bitmask: np.ndarray) -> Any:
    """``logits`` (1 x V, MLX) with every token whose bit is clear set to -inf.

    The bits are unpacked with numpy and handed to MLX as booleans: measured faster than
    unpacking them with MLX ops on the CPU backend, and more so the larger the vocabulary.
    """
    import mlx.core as mx

    vocab = logits.shape[-1]
    raw = bitmask.reshape(-1).view(np.uint8)
    count = min(vocab, raw.size * 8)
    bits = np.unpackbits(raw, bitorder="little", count=count)
    if count < vocab:  # logits past the tokenizer's vocabulary are never allowed
        bits = np.concatenate([bits, np.zeros(vocab - count, dtype=np.uint8)])
    allowed = mx.array(bits.view(np.bool_))
    return mx.where(allowed[None, :], logits, mx.array(-mx.inf, dtype=logits.dtype))


class GrammarProcessor:
    """An mlx-lm logits processor that keeps one sequence inside a grammar.

    mlx-lm calls it once per step with the sequence's tokens so far (the prompt's last token
    on the first call, then each sampled token) and that step's logits. It never raises:
    an exception would fail the whole batch, so a matcher that errs allows only the end.
    """

    def __init__(self, matcher: Any, vocab_size: int, eos_token_ids: list[int]) -> None:
        self._matcher = matcher
        self._started = False
        self._bitmask = np.zeros((1, (vocab_size + 31) // 32), dtype=np.int32)
        self._eos = list(eos_token_ids)

    @property
    def matcher(self) -> Any:
        return self._matcher

    def __call__(self, tokens: Any, logits: Any) -> Any:
        try:
            if self._started:
                self._matcher.consume_token(int(tokens[-1].item()))
            self._started = True
            if self._matcher.is_error():
                raise RuntimeError(self._matcher.get_error())
            from llguidance.numpy import fill_next_token_bitmask

            fill_next_token_bitmask(self._matcher, self._bitmask, 0)
            if not self._bitmask.any():
                self._end_only()
        except Exception as exc:
            logger.warning("grammar matcher failed, ending the sequence: %s", exc)
            self._end_only()
        return apply_bitmask(logits, self._bitmask)

    def _end_only(self) -> None:
        self._bitmask[:] = 0
        words = self._bitmask.view(np.uint32)
        for token in self._eos:
            if 0 <= token < words.shape[1] * 32:
                words[0, token // 32] |= np.uint32(1 << (token % 32))
