"""``config.json`` → :class:`ModelCharacteristics`, and badges for display. Pure: no I/O.

The Hub service reads it for configs on the Hub, the library for configs on disk.

``extract_characteristics`` accepts any JSON-ish value and never raises: a field of the wrong
type (a string, a bool, a list where a number belongs), a size that is zero, negative or
absurdly large, reads as unknown.

Where things are read from, in order:

- **Nested language configs.** Vision-language wrappers keep the language model's shape in
  ``text_config`` (Llava, Mllama, Gemma 3, Mistral 3), ``llm_config`` (InternVL) or
  ``language_config`` (DeepSeek-VL). Every shape field is read at the top level first, with
  all its aliases, then in those nested configs.
- **Family.** The exact ``model_type`` table, then the nested config's ``model_type`` in that
  table, then a substring table (most specific first) over both, then over the first
  ``architectures`` entry that is a non-empty string; an architecture name that matches
  nothing is kept with its task suffix stripped (``FooBarForCausalLM`` → ``FooBar``). Else
  ``"Unknown"``.
- **Quantization.** MLX ``quantization: {bits, group_size}``; else ``quantization_config``:
  Hugging Face forms (``quant_method`` with ``bits``, ``load_in_4bit``/``load_in_8bit``, FP8
  ``weight_block_size``, compressed-tensors ``config_groups``); a ``quantization_config`` with
  bits or a group size and no ``quant_method`` is MLX's copy of ``quantization``.
- **Parameter count** is an *estimate* from the shape (see ``estimate_parameters``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from shared_schemas.characteristics import ModelCharacteristics
from shared_schemas.model_config import (
    config_sources,
    context_length,
    first_size,
    positive_size,
)

_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")
_HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model")
_INTERMEDIATE_KEYS = ("intermediate_size", "ffn_hidden_size", "n_inner", "d_ff")
_VOCAB_KEYS = ("vocab_size", "padded_vocab_size")
_HEAD_KEYS = ("num_attention_heads", "n_head", "num_heads")
_KV_HEAD_KEYS = ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num")
_EXPERT_KEYS = ("num_local_experts", "n_routed_experts", "num_experts")
_VISION_TOKEN_KEYS = ("image_token_id", "image_token_index", "video_token_id")
_AUDIO_TOKEN_KEYS = ("audio_token_id", "audio_token_index")

# Exact ``model_type`` → family.
_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Llama", ("llama", "mllama")),
    ("Qwen", ("qwen2", "qwen3", "qwen2_vl", "qwen2_5_vl", "qwen3_moe")),
    ("Mistral", ("mistral", "mixtral", "mistral3")),
    ("Gemma", ("gemma", "gemma2", "gemma3", "gemma3_text")),
    ("Phi", ("phi", "phi3", "phimoe")),
    ("StarCoder", ("starcoder2",)),
    ("DeepSeek", ("deepseek_v2", "deepseek_v3")),
    ("GLM", ("glm", "glm4", "chatglm")),
    ("MiniMax", ("minimax",)),
    ("Command R", ("cohere", "cohere2")),
    ("OLMo", ("olmo", "olmo2")),
    ("Granite", ("granite",)),
    ("Falcon", ("falcon",)),
    ("GPT-OSS", ("gpt_oss",)),
    ("GPT-2", ("gpt2",)),
    ("OPT", ("opt",)),
    ("MPT", ("mpt",)),
    ("T5", ("t5",)),
)

# Substrings of a normalised name (lower case, letters and digits only), matched longest
# first so that "falconmamba" is Falcon, not Mamba.
_FAMILY_SUBSTRINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Llama", ("llama",)),
    ("Qwen", ("qwen",)),
    (
        "Mistral",
        ("mistral", "mixtral", "ministral", "magistral", "codestral", "devstral", "pixtral"),
    ),
    ("Gemma", ("gemma",)),
    ("Phi", ("phi",)),
    ("StarCoder", ("starcoder", "gptbigcode")),
    ("DeepSeek", ("deepseek",)),
    ("GLM", ("glm", "chatglm")),
    ("MiniMax", ("minimax",)),
    ("Command R", ("cohere",)),
    ("OLMo", ("olmo",)),
    ("Granite", ("granite",)),
    ("Falcon", ("falcon",)),
    ("GPT-OSS", ("gptoss",)),
    ("GPT-2", ("gpt2",)),
    ("GPT-NeoX", ("gptneox",)),
    ("GPT-J", ("gptj",)),
    ("LLaVA", ("llava",)),
    ("InternVL", ("internvl",)),
    ("InternLM", ("internlm",)),
    ("Idefics", ("idefics",)),
    ("Nemotron", ("nemotron",)),
    ("Baichuan", ("baichuan",)),
    ("StableLM", ("stablelm",)),
    ("SmolLM", ("smollm",)),
    ("EXAONE", ("exaone",)),
    ("Hunyuan", ("hunyuan",)),
    ("ERNIE", ("ernie",)),
    ("Kimi", ("kimi",)),
    ("Jamba", ("jamba",)),
    ("Mamba", ("mamba",)),
    ("RWKV", ("rwkv",)),
    ("BLOOM", ("bloom",)),
    ("DBRX", ("dbrx",)),
    ("LFM", ("lfm2",)),
    ("Seed-OSS", ("seedoss",)),
    ("Apertus", ("apertus",)),
    ("Whisper", ("whisper",)),
    ("BERT", ("bert",)),
)

_ARCHITECTURE_SUFFIXES = (
    "ForConditionalGeneration",
    "ForSequenceClassification",
    "ForTokenClassification",
    "ForQuestionAnswering",
    "ForCausalLM",
    "ForSeq2SeqLM",
    "ForMaskedLM",
    "LMHeadModel",
    "Model",
)

_FP8_METHODS = frozenset({"fp8", "fbgemm_fp8"})
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


# ---- reading values -------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first_bool(sources: Iterable[Mapping[object, object]], key: str) -> bool | None:
    for source in sources:
        value = source.get(key)
        if isinstance(value, bool):
            return value
    return None


def _first_text(sources: Iterable[Mapping[object, object]], keys: Iterable[str]) -> str | None:
    keys = tuple(keys)
    for source in sources:
        for key in keys:
            found = _text(source.get(key))
            if found is not None:
                return found
    return None


# ---- family ---------------------------------------------------------------------------------


def _normalised(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _family_by_substring(name: str) -> str | None:
    haystack = _normalised(name)
    needles = [(needle, family) for family, subs in _FAMILY_SUBSTRINGS for needle in subs]
    for needle, family in sorted(needles, key=lambda pair: -len(pair[0])):
        if needle in haystack:
            return family
    return None


def _strip_architecture_suffix(name: str) -> str:
    for suffix in _ARCHITECTURE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def architecture_family(model_types: list[str], architectures: list[str]) -> str:
    """The normalised family from ``model_type`` values (top level first) and architectures."""
    for model_type in model_types:
        for family, exact_types in _FAMILIES:
            if model_type.lower() in exact_types:
                return family
    for model_type in model_types:
        partial = _family_by_substring(model_type)
        if partial is not None:
            return partial
    if architectures:
        return _family_by_substring(architectures[0]) or _strip_architecture_suffix(
            architectures[0]
        )
    return "Unknown"


# ---- quantization ---------------------------------------------------------------------------


def _compressed_tensors_bits(config: Mapping[object, object]) -> tuple[int | None, int | None]:
    groups = config.get("config_groups")
    if not isinstance(groups, Mapping):
        return None, None
    for group in groups.values():
        weights = group.get("weights") if isinstance(group, Mapping) else None
        if isinstance(weights, Mapping):
            bits = positive_size(weights.get("num_bits"))
            if bits is not None:
                return bits, positive_size(weights.get("group_size"))
    return None, None


def _hf_quantization(qc: Mapping[object, object]) -> tuple[int | None, int | None, str | None]:
    raw_method = _text(qc.get("quant_method"))
    method = raw_method.lower() if raw_method else None
    bits = (
        positive_size(qc.get("bits"))
        or positive_size(qc.get("w_bit"))
        or positive_size(qc.get("nbits"))
    )
    group = positive_size(qc.get("group_size")) or positive_size(qc.get("q_group_size"))
    if bits is None:
        if qc.get("load_in_4bit") is True or qc.get("_load_in_4bit") is True:
            bits, method = 4, method or "bitsandbytes"
        elif qc.get("load_in_8bit") is True or qc.get("_load_in_8bit") is True:
            bits, method = 8, method or "bitsandbytes"
        elif method in _FP8_METHODS or (method is None and "weight_block_size" in qc):
            bits, method = 8, method or "fp8"
        elif method == "mxfp4":
            bits = 4
        elif method == "compressed-tensors":
            bits, group = _compressed_tensors_bits(qc)
    if method is None and (bits is not None or group is not None):
        method = "mlx"
    return bits, group, method


def _quantization(config: Mapping[object, object]) -> tuple[int | None, int | None, str | None]:
    """``(bits, group_size, method)`` from MLX ``quantization`` or ``quantization_config``."""
    mlx = config.get("quantization")
    if isinstance(mlx, Mapping):
        bits, group = positive_size(mlx.get("bits")), positive_size(mlx.get("group_size"))
        if bits is not None or group is not None:
            return bits, group, "mlx"
    qc = config.get("quantization_config")
    if isinstance(qc, Mapping):
        return _hf_quantization(qc)
    return None, None, None


# ---- modality -------------------------------------------------------------------------------


def _words(name: str) -> set[str]:
    """``Qwen2_5_VLForConditionalGeneration`` → {"qwen", "2", "5", "vl", "for", ...}."""
    return {word.lower() for word in _WORD.findall(name)}


def _names_say_vision(names: Iterable[str]) -> bool:
    for name in names:
        lower = name.lower()
        # Split into words only when "vl" appears at all: most names never need the regex.
        if "vision" in lower or ("vl" in lower and {"vl", "vlm"} & _words(name)):
            return True
    return False


def _multimodal_type(config: Mapping[object, object], names: list[str]) -> str | None:
    """``"vision"``, ``"audio"``, ``"vision+audio"`` or None for a text-only config."""
    vision = (
        isinstance(config.get("vision_config"), Mapping)
        or any(positive_size(config.get(key)) is not None for key in _VISION_TOKEN_KEYS)
        or _names_say_vision(names)
    )
    audio = (
        isinstance(config.get("audio_config"), Mapping)
        or any(positive_size(config.get(key)) is not None for key in _AUDIO_TOKEN_KEYS)
        or any("audio" in name.lower() for name in names)
    )
    kinds = [kind for kind, present in (("vision", vision), ("audio", audio)) if present]
    return "+".join(kinds) or None


# ---- parameter estimate ---------------------------------------------------------------------


def estimate_parameters(config: object) -> int | None:
    """An *estimate* of the language model's parameters from its shape; None when unknown.

    Needs hidden size, layer count and vocabulary. Counts: embeddings (``vocab * hidden``,
    twice unless ``tie_word_embeddings`` is true); per layer attention (q and o:
    ``hidden * heads * head_dim``, k and v: ``hidden * kv_heads * head_dim``, ``head_dim``
    from ``head_dim`` or ``hidden / heads``), a gated MLP (``3 * hidden * intermediate``; with
    no intermediate size, a plain ``4 * hidden`` MLP of two matrices), two norms per layer and
    a final one. Mixture of experts: the MLP times the expert count
    (``num_local_experts`` / ``n_routed_experts`` / ``num_experts``), sized by
    ``moe_intermediate_size`` when given, plus shared experts and the router; the first
    ``first_k_dense_replace`` layers stay dense. Biases, vision towers and special attention
    layouts (e.g. latent attention) are not modelled.
    """
    if not isinstance(config, Mapping):
        return None
    sources = config_sources(config)
    hidden = first_size(sources, _HIDDEN_KEYS)
    layers = first_size(sources, _LAYER_KEYS)
    vocab = first_size(sources, _VOCAB_KEYS)
    if hidden is None or layers is None or vocab is None:
        return None
    heads = first_size(sources, _HEAD_KEYS)
    kv_heads = first_size(sources, _KV_HEAD_KEYS) or heads
    head_dim = first_size(sources, ("head_dim",))
    if head_dim is None and heads is not None:
        head_dim = max(hidden // heads, 1)
    if heads is not None and head_dim is not None:
        attention = 2 * hidden * (heads + (kv_heads or heads)) * head_dim
    else:
        attention = 4 * hidden * hidden

    intermediate = first_size(sources, _INTERMEDIATE_KEYS)
    dense_mlp = 3 * hidden * intermediate if intermediate else 2 * hidden * 4 * hidden
    experts = first_size(sources, _EXPERT_KEYS)
    moe_layers, moe_mlp = 0, 0
    if experts is not None:
        expert_size = first_size(sources, ("moe_intermediate_size",)) or intermediate or 4 * hidden
        shared = (first_size(sources, ("n_shared_experts",)) or 0) * 3 * hidden * expert_size
        shared += 3 * hidden * (first_size(sources, ("shared_expert_intermediate_size",)) or 0)
        moe_mlp = experts * 3 * hidden * expert_size + shared + hidden * experts
        moe_layers = layers - min(first_size(sources, ("first_k_dense_replace",)) or 0, layers)

    tied = _first_bool(sources, "tie_word_embeddings") is True
    embeddings = vocab * hidden * (1 if tied else 2)
    per_layer = attention + 2 * hidden
    dense_layers = layers - moe_layers
    return (
        embeddings + layers * per_layer + dense_layers * dense_mlp + moe_layers * moe_mlp + hidden
    )


# ---- badges ---------------------------------------------------------------------------------


def _compact(value: float, whole_from: float = 10) -> str:
    """One decimal below ``whole_from`` (``1.2``, ``7``), whole numbers from there (``128``)."""
    if value < whole_from:
        text = f"{value:.1f}"
        return text[:-2] if text.endswith(".0") else text
    return str(round(value))


def context_badge(tokens: int) -> str:
    """``131072`` → ``"128K ctx"``, ``128000`` → ``"128K ctx"``, ``1048576`` → ``"1M ctx"``.

    Counted in 1000s when that is exact (``128000``), else in 1024s when that is exact
    (``131072``), else in 1000s.
    """
    base = 1024 if tokens % 1000 != 0 and tokens % 1024 == 0 else 1000
    if tokens >= base * base:
        return f"{_compact(tokens / (base * base))}M ctx"
    if tokens >= base:
        return f"{_compact(tokens / base)}K ctx"
    return f"{tokens} ctx"


def size_badge(parameters: int) -> str:
    """``7_615_616_512`` → ``"7.6B"``, ``494_032_768`` → ``"0.5B"``, ``134_515_008`` → ``"135M"``.

    From 0.45 billion up, billions (so a 494M model reads as the "0.5B" it is sold as).
    """
    if parameters >= 450_000_000:
        return f"{_compact(parameters / 1e9, whole_from=100)}B"
    if parameters >= 999_500:
        return f"{_compact(parameters / 1e6)}M"
    if parameters >= 1_000:
        return f"{_compact(parameters / 1e3)}K"
    return str(parameters)


def _quantization_badge(ch: ModelCharacteristics) -> str | None:
    method = ch.quantization_method
    if method in _FP8_METHODS:
        return "FP8"
    if method == "mxfp4":
        return "MXFP4"
    if ch.quantization_bits is not None and ch.quantization_bits > 0:
        return f"{ch.quantization_bits}-bit"
    return method.upper() if method else None


def badges(ch: ModelCharacteristics) -> list[str]:
    """Short labels for display: family, quantization, modality, context, size.

    e.g. ``["Qwen", "4-bit", "Vision", "32K ctx", "7.6B"]``.
    """
    out: list[str] = []
    if ch.architecture_family and ch.architecture_family != "Unknown":
        out.append(ch.architecture_family)
    quant = _quantization_badge(ch)
    if quant:
        out.append(quant)
    kinds = (ch.multimodal_type or "").split("+")
    out.extend(kind.capitalize() for kind in kinds if kind in ("vision", "audio"))
    if ch.is_multimodal and not ({"vision", "audio"} & set(kinds)):
        out.append("Multimodal")
    if ch.context_length is not None and ch.context_length > 0:
        out.append(context_badge(ch.context_length))
    if ch.parameter_count is not None and ch.parameter_count > 0:
        out.append(size_badge(ch.parameter_count))
    return out


# ---- the whole ------------------------------------------------------------------------------


def extract_characteristics(config: object) -> ModelCharacteristics:
    """Characteristics of a model from its parsed ``config.json``. Never raises."""
    if not isinstance(config, Mapping):
        return ModelCharacteristics()
    sources = config_sources(config)
    model_types = [t for t in (_text(source.get("model_type")) for source in sources) if t]
    raw_architectures = config.get("architectures")
    names = raw_architectures if isinstance(raw_architectures, list) else []
    architectures = [name for name in (_text(n) for n in names) if name]
    top_type = _text(config.get("model_type"))
    bits, group, method = _quantization(config)
    modality = _multimodal_type(config, ([top_type] if top_type else []) + architectures)
    use_cache = _first_bool(sources, "use_cache")

    ch = ModelCharacteristics(
        model_type=top_type or (model_types[0] if model_types else None),
        architecture_family=architecture_family(model_types, architectures),
        architectures=architectures,
        context_length=context_length(config),
        num_hidden_layers=first_size(sources, _LAYER_KEYS),
        hidden_size=first_size(sources, _HIDDEN_KEYS),
        intermediate_size=first_size(sources, _INTERMEDIATE_KEYS),
        vocab_size=first_size(sources, _VOCAB_KEYS),
        num_attention_heads=first_size(sources, _HEAD_KEYS),
        num_key_value_heads=first_size(sources, _KV_HEAD_KEYS),
        quantization_bits=bits,
        quantization_group_size=group,
        quantization_method=method,
        is_multimodal=modality is not None,
        multimodal_type=modality,
        use_cache=True if use_cache is None else use_cache,
        torch_dtype=_first_text(sources, ("torch_dtype", "dtype")),
        parameter_count=estimate_parameters(config),
    )
    ch.badges = badges(ch)
    return ch
