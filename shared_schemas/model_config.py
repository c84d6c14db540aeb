"""What both processes read from a model's ``config.json`` the same way. Pure.

A config's facts sit at its top level or, for multimodal models, in a nested language-model
config (``text_config``, ``llm_config``, ``language_config``): :func:`config_sources` lists
them in the order they are read. A size is a positive integer (an integral float is
accepted, a bool is not). The context window is the first size found under
:data:`CONTEXT_KEYS`, so a GPT-2-style ``n_positions`` counts as much as Llama's
``max_position_embeddings``: the manager's characteristics and the inference server's prompt
limit read it with :func:`context_length`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# Anything larger than this is not a real size (and would overflow float formatting).
MAX_SIZE = 2**53
NESTED_CONFIG_KEYS = ("text_config", "llm_config", "language_config")
CONTEXT_KEYS = (
    "max_position_embeddings",
    "max_sequence_length",
    "seq_length",
    "n_positions",
    "n_ctx",
)


def positive_size(value: object) -> int | None:
    """A positive integer (an integral float is accepted), else None. Bools are not ints."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_SIZE:
        return value
    return None


def config_sources(config: Mapping[Any, Any]) -> list[Mapping[Any, Any]]:
    """The top level, then the nested language-model configs that are mappings."""
    nested = [config.get(key) for key in NESTED_CONFIG_KEYS]
    return [config, *(n for n in nested if isinstance(n, Mapping))]


def first_size(sources: Iterable[Mapping[Any, Any]], keys: Iterable[str]) -> int | None:
    """The first size under one of ``keys``, source by source."""
    keys = tuple(keys)
    for source in sources:
        for key in keys:
            found = positive_size(source.get(key))
            if found is not None:
                return found
    return None


def context_length(config: Mapping[Any, Any]) -> int | None:
    """The model's context window in tokens, or None when its config does not say."""
    return first_size(config_sources(config), CONTEXT_KEYS)
