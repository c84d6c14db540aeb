"""Make small, real Llama-style models for tests, benchmarks and the offline demo.

    python -m modelyard_dev.tiny_model [--shape tiny|small|bench|large]
        [--out DIR | --cache-dir DIR]

A model is a plain Hugging Face folder that mlx-lm loads through its normal path:

- ``config.json``: a real ``LlamaForCausalLM`` config (``mistral`` and ``qwen2`` also work);
- ``model.safetensors``: random weights named exactly as in Hugging Face checkpoints,
  deterministic from a seed;
- ``tokenizer.json`` and friends: a byte-level BPE tokenizer trained on the spot on a small
  English corpus made in code, with special chat tokens and a Jinja chat template (by
  default one with tool support in Qwen2.5's ``<tool_call>`` format; ``tools=False`` or
  ``--no-tools`` for a plain one).

Everything is deterministic: ``model_files(shape, seed)`` returns the same bytes every time,
so a fake Hub can serve exactly what ``write_model`` writes. ``install_in_cache`` puts a model
into the standard Hugging Face hub cache layout (:mod:`shared_schemas.hf_cache`)
so that ``huggingface_hub.scan_cache_dir`` and ``mlx_lm.load("org/name")`` see it offline.

The weights are random, so the text a model writes is gibberish made of English sub-words.
Output rows of the special tokens and of raw non-ASCII bytes are zero, so greedy decoding
never ends at once and the text stays printable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save as save_safetensors
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from shared_schemas.hf_cache import blob_path, blobs_dir, ref_path, repo_dir, snapshot_path

# --------------------------------------------------------------------------------------------
# Shapes


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a Llama-style decoder."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    tie_word_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def parameter_count(self, model_type: str = "llama") -> int:
        """The number of weights ``write_model`` writes for this shape."""
        return sum(math.prod(spec.shape) for spec in tensor_specs(self, model_type))


TINY = ModelShape("tiny", 512, 64, 128, 2, 4, 2, 512)
SMALL = ModelShape("small", 2048, 256, 768, 4, 8, 4, 2048)
BENCH = ModelShape("bench", 8192, 768, 2048, 8, 12, 4, 4096)
LARGE = ModelShape("large", 8192, 1536, 4096, 12, 12, 4, 4096)

PRESETS: Mapping[str, ModelShape] = MappingProxyType(
    {shape.name: shape for shape in (TINY, SMALL, BENCH, LARGE)}
)


def preset(name: str) -> ModelShape:
    """The preset shape called ``name`` (``tiny``, ``small``, ``bench`` or ``large``)."""
    try:
        return PRESETS[name.lower()]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ValueError(f"unknown model shape {name!r}; known: {known}") from None


# --------------------------------------------------------------------------------------------
# Tokenizer

PAD, BOS, EOS = "<|pad|>", "<|begin_of_text|>", "<|end|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, BOS, EOS, *ROLE_TOKENS)  # ids 0, 1, 2, ... in this order

# The plain template: roles and text, no tools.
PLAIN_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

# The default template renders plain conversations exactly as ``PLAIN_CHAT_TEMPLATE`` does,
# and tools, tool calls and tool results in Qwen2.5's format: the tools as JSON inside
# ``<tools></tools>`` in a system turn, each call as ``<tool_call>\n{"name": ..., "arguments":
# {...}}\n</tool_call>`` in the assistant turn, results as ``<tool_response>`` blocks in a user
# turn. mlx-lm recognises the format from the template and picks its ``json_tools`` parser.
TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_INSTRUCTIONS = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
_TEXT = (
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% elif message['content'] %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
)
TOOLS_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set first = 0 %}"
    "{% if tools %}"
    "{{ '<|system|>\\n' }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set message = messages[0] %}" + _TEXT + "{{ '\\n\\n' }}{% set first = 1 %}"
    "{% endif %}"
    "{{ '" + TOOLS_PREAMBLE.replace("\n", "\\n") + "' }}"
    "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}"
    "{{ '" + TOOLS_INSTRUCTIONS.replace("\n", "\\n") + "' }}"
    "{{ '<|end|>\\n' }}"
    "{% endif %}"
    "{% for message in messages[first:] %}"
    "{% if message['role'] == 'tool' %}"
    "{% if loop.first or loop.previtem['role'] != 'tool' %}{{ '<|user|>' }}{% endif %}"
    "{{ '\\n<tool_response>\\n' }}" + _TEXT + "{{ '\\n</tool_response>' }}"
    "{% if loop.last or loop.nextitem['role'] != 'tool' %}{{ '<|end|>\\n' }}{% endif %}"
    "{% elif message['role'] == 'assistant' and message['tool_calls'] %}"
    "{{ '<|assistant|>\\n' }}" + _TEXT + ""
    "{% for tool_call in message['tool_calls'] %}"
    "{% if tool_call['function'] is defined %}"
    "{% set tool_call = tool_call['function'] %}{% endif %}"
    "{% if not loop.first or message['content'] %}{{ '\\n' }}{% endif %}"
    '{{ \'<tool_call>\\n{"name": "\' }}{{ tool_call.name }}{{ \'", "arguments": \' }}'
    "{% if tool_call.arguments is string %}{{ tool_call.arguments }}"
    "{% else %}{{ tool_call.arguments | tojson }}{% endif %}"
    "{{ '}\\n</tool_call>' }}"
    "{% endfor %}"
    "{{ '<|end|>\\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\\n' }}" + _TEXT + "{{ '<|end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
CHAT_TEMPLATE = TOOLS_CHAT_TEMPLATE

_SUBJECTS = (
    "the cat",
    "a young fox",
    "my neighbour",
    "the old teacher",
    "our team",
    "the engineer",
    "a small robot",
    "the river",
    "the city council",
    "her brother",
    "the farmer",
    "a tired student",
    "the baker",
    "every child",
    "the captain",
    "a quiet musician",
    "the doctor",
    "his sister",
    "the library",
    "the storm",
    "a careful driver",
    "the garden",
    "the market",
    "the museum",
)
_VERBS = (
    "found",
    "painted",
    "carried",
    "opened",
    "watched",
    "remembered",
    "built",
    "cleaned",
    "followed",
    "described",
    "visited",
    "measured",
    "answered",
    "borrowed",
    "repaired",
    "discovered",
    "explained",
    "changed",
    "ordered",
    "collected",
    "forgot",
    "shared",
    "protected",
    "celebrated",
    "planted",
    "wrote",
    "read",
    "sold",
    "bought",
    "moved",
)
_OBJECTS = (
    "a green umbrella",
    "the wooden bridge",
    "three letters",
    "an ancient map",
    "the broken clock",
    "a basket of apples",
    "the morning newspaper",
    "a long story",
    "the blue door",
    "a warm blanket",
    "the heavy box",
    "two bicycles",
    "a simple question",
    "the last train",
    "a bright lantern",
    "the silver key",
    "a cup of tea",
    "the winter coat",
    "a paper boat",
    "the kitchen window",
    "a new computer",
    "the garden fence",
    "a loaf of bread",
    "the old piano",
)
_PLACES = (
    "near the harbour",
    "in the mountains",
    "behind the school",
    "at the station",
    "under the bridge",
    "beside the lake",
    "in the village",
    "on the hill",
    "at the bakery",
    "across the street",
    "in the forest",
    "by the sea",
    "inside the castle",
    "at the office",
)
_TIMES = (
    "yesterday",
    "this morning",
    "last week",
    "every summer",
    "on Monday",
    "at midnight",
    "before dinner",
    "after the rain",
    "in the spring",
    "on Friday evening",
    "at noon",
    "today",
)
_ADJECTIVES = (
    "quiet",
    "bright",
    "curious",
    "gentle",
    "strange",
    "famous",
    "patient",
    "clever",
    "happy",
    "careful",
    "ancient",
    "modern",
    "friendly",
    "busy",
    "honest",
    "brave",
    "simple",
    "warm",
)
_QUESTIONS = (
    "Where did {s} put {o}?",
    "Why is {s} so {a}?",
    "Can you tell me about {o}?",
    "What happened {p} {t}?",
    "How often does {s} visit the coast?",
    "Would you like {o}?",
    "Who {v} {o} {t}?",
)
_STATEMENTS = (
    "{S} {v} {o} {p} {t}.",
    "{T}, {s} {v} {o}.",
    "{S} was {a} when it {v} {o}.",
    "It is {a} to see {s} {p}.",
    "{S} {v} {o}, and then {s2} {v2} {o2}.",
    "If the weather is {a}, {s} will walk {p}.",
    "Nobody knew why {s} {v} {o} {p}.",
)
_SYLLABLES = (
    "ba",
    "be",
    "bo",
    "ca",
    "co",
    "da",
    "de",
    "di",
    "do",
    "el",
    "en",
    "fa",
    "fe",
    "fi",
    "ga",
    "go",
    "ha",
    "he",
    "ho",
    "il",
    "in",
    "ka",
    "ke",
    "ko",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "na",
    "ne",
    "ni",
    "no",
    "or",
    "pa",
    "pe",
    "po",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
    "wa",
    "we",
    "za",
)
_PLACE_ENDINGS = (
    "ton",
    "ford",
    "mere",
    "wick",
    "dale",
    "holm",
    "by",
    "stead",
    "port",
    "mouth",
    "gate",
    "bury",
)


def english_corpus(vocab_size: int = 512, sentences: int = 600) -> list[str]:
    """A deterministic English corpus: varied sentences, plus place names for larger vocabularies.

    Made-up place names give byte-level BPE enough distinct words to reach ``vocab_size``.
    """
    rng = random.Random(20240611)

    def fill(template: str) -> str:
        s, s2, o, o2, t = (
            rng.choice(x) for x in (_SUBJECTS, _SUBJECTS, _OBJECTS, _OBJECTS, _TIMES)
        )
        return template.format(
            s=s, S=s.capitalize(), s2=s2, o=o, o2=o2, t=t, T=t.capitalize(),
            v=rng.choice(_VERBS), v2=rng.choice(_VERBS), a=rng.choice(_ADJECTIVES),
            p=rng.choice(_PLACES),
        )  # fmt: skip

    lines = [fill(rng.choice(_STATEMENTS + _QUESTIONS)) for _ in range(sentences)]
    lines.append("The quick brown fox jumps over the lazy dog. 0123456789")
    for _ in range(max(0, vocab_size - 600)):
        a, b = (
            "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))).capitalize()
            + rng.choice(_PLACE_ENDINGS)
            for _ in range(2)
        )
        lines.append(f"The road from {a} to {b} is {rng.choice(_ADJECTIVES)}.")
    return lines


def train_tokenizer(vocab_size: int) -> Tokenizer:
    """A byte-level BPE tokenizer with ``SPECIAL_TOKENS`` first; it adds BOS when encoding."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(english_corpus(vocab_size), trainer)
    bos_id = SPECIAL_TOKENS.index(BOS)
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B:1", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    return tokenizer


def _plain_text_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids of tokens that decode to printable ASCII text (not special, not a stray byte)."""
    ids = []
    for token_id in range(len(SPECIAL_TOKENS), tokenizer.get_vocab_size()):
        text = tokenizer.decode([token_id], skip_special_tokens=False)
        if text and text.isascii() and all(c.isprintable() or c == "\n" for c in text):
            ids.append(token_id)
    return ids


def _tokenizer_files(
    tokenizer: Tokenizer, shape: ModelShape, *, tools: bool = True
) -> dict[str, bytes]:
    specials = {token: SPECIAL_TOKENS.index(token) for token in SPECIAL_TOKENS}
    tokenizer_config = {
        "added_tokens_decoder": {
            str(token_id): {
                "content": token,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for token, token_id in specials.items()
        },
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "additional_special_tokens": list(ROLE_TOKENS),
        "clean_up_tokenization_spaces": False,
        "model_max_length": shape.max_position_embeddings,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": TOOLS_CHAT_TEMPLATE if tools else PLAIN_CHAT_TEMPLATE,
    }
    special_tokens_map = {
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "additional_special_tokens": list(ROLE_TOKENS),
    }
    generation_config = {
        "bos_token_id": specials[BOS],
        "eos_token_id": specials[EOS],
        "pad_token_id": specials[PAD],
    }
    return {
        "tokenizer.json": tokenizer.to_str(pretty=True).encode(),
        "tokenizer_config.json": _json_bytes(tokenizer_config),
        "special_tokens_map.json": _json_bytes(special_tokens_map),
        "generation_config.json": _json_bytes(generation_config),
    }


# --------------------------------------------------------------------------------------------
# Config and weights

_ARCHITECTURES = MappingProxyType(
    {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
)
_DTYPES: Mapping[str, type[np.floating[Any]]] = MappingProxyType(
    {"float16": np.float16, "float32": np.float32}
)


@dataclass(frozen=True)
class TensorSpec:
    """One weight: its checkpoint name, shape and how it is initialised."""

    name: str
    shape: tuple[int, ...]
    init: str  # "normal" (std 0.02), "ones", "zeros" or "output" (the lm_head)


def tensor_specs(shape: ModelShape, model_type: str = "llama") -> list[TensorSpec]:
    """The weights of a Hugging Face Llama checkpoint, in a fixed order."""
    h, inter = shape.hidden_size, shape.intermediate_size
    q_out = shape.num_attention_heads * shape.head_dim
    kv_out = shape.num_key_value_heads * shape.head_dim
    specs = [TensorSpec("model.embed_tokens.weight", (shape.vocab_size, h), "normal")]
    for i in range(shape.num_hidden_layers):
        layer = f"model.layers.{i}"
        specs += [
            TensorSpec(f"{layer}.input_layernorm.weight", (h,), "ones"),
            TensorSpec(f"{layer}.self_attn.q_proj.weight", (q_out, h), "normal"),
            TensorSpec(f"{layer}.self_attn.k_proj.weight", (kv_out, h), "normal"),
            TensorSpec(f"{layer}.self_attn.v_proj.weight", (kv_out, h), "normal"),
            TensorSpec(f"{layer}.self_attn.o_proj.weight", (h, q_out), "normal"),
            TensorSpec(f"{layer}.post_attention_layernorm.weight", (h,), "ones"),
            TensorSpec(f"{layer}.mlp.gate_proj.weight", (inter, h), "normal"),
            TensorSpec(f"{layer}.mlp.up_proj.weight", (inter, h), "normal"),
            TensorSpec(f"{layer}.mlp.down_proj.weight", (h, inter), "normal"),
        ]
        if model_type == "qwen2":
            specs += [
                TensorSpec(f"{layer}.self_attn.{p}_proj.bias", (n,), "zeros")
                for p, n in (("q", q_out), ("k", kv_out), ("v", kv_out))
            ]
    specs.append(TensorSpec("model.norm.weight", (h,), "ones"))
    if not shape.tie_word_embeddings:
        specs.append(TensorSpec("lm_head.weight", (shape.vocab_size, h), "output"))
    return specs


def model_config(
    shape: ModelShape, *, dtype: str = "float16", model_type: str = "llama"
) -> dict[str, Any]:
    """The ``config.json`` of a model of this shape."""
    if model_type not in _ARCHITECTURES:
        raise ValueError(
            f"unsupported model_type {model_type!r}; known: {', '.join(_ARCHITECTURES)}"
        )
    return {
        "architectures": [_ARCHITECTURES[model_type]],
        "model_type": model_type,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_attention_heads": shape.num_attention_heads,
        "num_key_value_heads": shape.num_key_value_heads,
        "num_hidden_layers": shape.num_hidden_layers,
        "head_dim": shape.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": shape.max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "attention_bias": model_type == "qwen2",
        "mlp_bias": False,
        "initializer_range": 0.02,
        "tie_word_embeddings": shape.tie_word_embeddings,
        "vocab_size": shape.vocab_size,
        "bos_token_id": SPECIAL_TOKENS.index(BOS),
        "eos_token_id": SPECIAL_TOKENS.index(EOS),
        "pad_token_id": SPECIAL_TOKENS.index(PAD),
        "use_cache": True,
        "torch_dtype": dtype,
    }


def _gaussian_levels(std: float, dtype: type[np.floating[Any]]) -> npt.NDArray[Any]:
    """256 values whose uniform mixture is a Gaussian with this ``std``, quantised."""
    normal = NormalDist()
    levels = np.array([normal.inv_cdf((i + 0.5) / 256) for i in range(256)])
    return np.asarray(levels * (std / levels.std()), dtype=dtype)


def random_weights(
    shape: ModelShape,
    *,
    seed: int = 0,
    dtype: str = "float16",
    model_type: str = "llama",
    text_ids: Sequence[int] | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Deterministic random weights, named as in Hugging Face checkpoints.

    Matrices are Gaussian (std 0.02, quantised to 256 levels: random bytes through a table,
    which is fast enough for hundreds of millions of weights). The lm_head is scaled so that
    logits have a std of about 2, and its rows outside ``text_ids`` are zero.
    """
    np_dtype = _DTYPES[dtype]
    rng = np.random.default_rng(seed)
    hidden_levels = _gaussian_levels(0.02, np_dtype)
    output_levels = _gaussian_levels(2.0 / math.sqrt(shape.hidden_size), np_dtype)
    weights: dict[str, npt.NDArray[Any]] = {}
    for spec in tensor_specs(shape, model_type):
        if spec.init == "ones":
            weights[spec.name] = np.ones(spec.shape, dtype=np_dtype)
        elif spec.init == "zeros":
            weights[spec.name] = np.zeros(spec.shape, dtype=np_dtype)
        else:
            levels = output_levels if spec.init == "output" else hidden_levels
            raw = np.frombuffer(rng.bytes(math.prod(spec.shape)), dtype=np.uint8)
            weights[spec.name] = levels[raw].reshape(spec.shape)
    head = weights.get("lm_head.weight")
    if head is not None and text_ids is not None:
        keep = np.zeros(shape.vocab_size, dtype=bool)
        keep[list(text_ids)] = True
        head[~keep] = 0
    return weights


# --------------------------------------------------------------------------------------------
# Files


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def model_files(
    shape: ModelShape = TINY,
    seed: int = 0,
    *,
    dtype: str = "float16",
    model_type: str = "llama",
    tools: bool = True,
) -> dict[str, bytes]:
    """Every file of the model, by name; the same bytes for the same arguments.

    ``tools`` picks the chat template: with tool support (Qwen2.5's format) or plain.
    """
    config = model_config(shape, dtype=dtype, model_type=model_type)
    tokenizer = train_tokenizer(shape.vocab_size)
    if tokenizer.get_vocab_size() != shape.vocab_size:
        raise ValueError(
            f"the corpus yields {tokenizer.get_vocab_size()} tokens, not {shape.vocab_size}"
        )
    weights = random_weights(
        shape, seed=seed, dtype=dtype, model_type=model_type, text_ids=_plain_text_ids(tokenizer)
    )
    files = {"config.json": _json_bytes(config)}
    files["model.safetensors"] = save_safetensors(weights, metadata={"format": "pt"})
    files.update(_tokenizer_files(tokenizer, shape, tools=tools))
    return files


def write_model(
    dest: Path,
    shape: ModelShape = TINY,
    *,
    seed: int = 0,
    dtype: str = "float16",
    model_type: str = "llama",
    tools: bool = True,
) -> Path:
    """Write the model as a plain folder at ``dest`` (created if needed) and return it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files = model_files(shape, seed, dtype=dtype, model_type=model_type, tools=tools)
    for name, data in files.items():
        _write_atomic(dest / name, data)
    return dest


# --------------------------------------------------------------------------------------------
# Hugging Face hub cache layout

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".npz", ".pt", ".pth", ".model")
LFS_MIN_SIZE = 10 * 1024 * 1024


def is_lfs(name: str, data: bytes) -> bool:
    """Whether the Hub would store this file in LFS (weights, and anything over 10 MiB)."""
    return name.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file: ``sha1(b"blob <size>\\0" + data)``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def blob_id(name: str, data: bytes) -> str:
    """The file's etag on the Hub and its blob name in the cache: sha256 for LFS, else git sha1."""
    return hashlib.sha256(data).hexdigest() if is_lfs(name, data) else git_blob_sha1(data)


def commit_hash(files: Mapping[str, bytes]) -> str:
    """A deterministic 40-hex commit id for a set of files."""
    listing = "".join(f"{name}\0{blob_id(name, files[name])}\n" for name in sorted(files))
    return hashlib.sha1(listing.encode()).hexdigest()


def repo_folder_name(repo_id: str) -> str:
    """The repo's folder in the hub cache (the layout of :mod:`shared_schemas.hf_cache`)."""
    return repo_dir(Path(), repo_id).name


def install_files_in_cache(
    cache_dir: Path, repo_id: str, files: Mapping[str, bytes], *, revision: str = "main"
) -> Path:
    """Put ``files`` into the hub cache as one commit of ``repo_id``; return the snapshot folder.

    Blobs are written first, then the snapshot's relative symlinks, then ``refs/<revision>``
    (skipped when ``revision`` is itself a commit id).
    """
    repo = repo_dir(Path(cache_dir), repo_id)
    commit = revision if _is_commit(revision) else commit_hash(files)
    snapshot = snapshot_path(repo, commit)
    blobs_dir(repo).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = blob_path(repo, blob_id(name, data))
        if not blob.exists():
            _write_atomic(blob, data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    if not _is_commit(revision):
        _write_atomic(ref_path(repo, revision), commit.encode())
    return snapshot


def install_in_cache(
    cache_dir: Path,
    repo_id: str,
    shape: ModelShape = TINY,
    *,
    seed: int = 0,
    revision: str = "main",
    dtype: str = "float16",
    model_type: str = "llama",
    tools: bool = True,
) -> Path:
    """Make a model and install it in the hub cache at ``cache_dir``; return the snapshot folder."""
    files = model_files(shape, seed, dtype=dtype, model_type=model_type, tools=tools)
    return install_files_in_cache(cache_dir, repo_id, files, revision=revision)


def _is_commit(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m modelyard_dev.tiny_model",
        description="Make a small random-weight Llama with a real tokenizer, offline.",
    )
    parser.add_argument("--repo-id", default="modelyard/tiny-llama", help="org/name in the cache")
    parser.add_argument("--shape", default="tiny", choices=list(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float16", choices=list(_DTYPES))
    parser.add_argument("--model-type", default="llama", choices=list(_ARCHITECTURES))
    parser.add_argument(
        "--no-tools", action="store_true", help="a chat template without tool support"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--cache-dir", type=Path, help="hub cache (default: HF_HUB_CACHE)")
    where.add_argument("--out", type=Path, help="write a plain folder here instead")
    args = parser.parse_args(argv)

    shape = preset(args.shape)
    if args.out is not None:
        path = write_model(
            args.out,
            shape,
            seed=args.seed,
            dtype=args.dtype,
            model_type=args.model_type,
            tools=not args.no_tools,
        )
    else:
        from huggingface_hub import constants

        cache_dir = args.cache_dir or Path(constants.HF_HUB_CACHE)
        path = install_in_cache(
            cache_dir,
            args.repo_id,
            shape,
            seed=args.seed,
            dtype=args.dtype,
            model_type=args.model_type,
            tools=not args.no_tools,
        )
    print(path)


if __name__ == "__main__":
    main()
