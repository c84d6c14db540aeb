"""Quantization levels from file and repository names. Pure.

GGUF names carry llama.cpp's quant types (``Q4_K_M``, ``IQ2_XXS``, ``Q8_0``, ``BF16``, often in
lower case: ``model-q4_k_m.gguf``); MLX repositories say ``4bit``, ``4-bit``, ``8bit-DWQ``,
``bf16``, ``mxfp4``, ``mixed_3_6``. A token counts only between separators (``-``, ``_``,
``.``, ``/``, space, or either end; a GGUF token does not end at ``_``), so ``Qwen2.5`` or
``Phi-3-mini-4k`` read as nothing. Of several tokens of one kind, the last one in the name
wins (the quant is a suffix; ``Q4_K_M/model-Q4_K_M-00001-of-00002.gguf`` reads ``Q4_K_M``).
"""

from __future__ import annotations

import re

from manager.hub.schemas import QuantLevel

_SEP_BEFORE = r"(?:^|(?<=[-_./ ]))"
_SEP_AFTER = r"(?=$|[-_./ ])"
# "_" is part of llama.cpp's names, so after a GGUF token it does not end one (Q4_K_MMM).
_GGUF_END = r"(?=$|[-./ ])"

_GGUF = re.compile(
    _SEP_BEFORE
    + r"(?P<q>"
    + r"(?:UD-)?(?:"
    + r"IQ[1-4]_(?:XXS|XS|NL|S|M)"
    + r"|Q[2-8]_K(?:_(?:XXS|XS|XL|S|M|L))?"
    + r"|Q4_0_[48]_[48]"
    + r"|Q[4-8]_[01]"
    + r"|TQ[12]_0"
    + r"|MXFP4(?:_MOE)?"
    + r"|BF16|F16|F32"
    + r"))"
    + _GGUF_END,
    re.IGNORECASE,
)

_MLX_BITS = re.compile(
    _SEP_BEFORE
    + r"(?P<bits>[1-8]|16)[-_]?bits?"
    + r"(?:[-_](?P<method>dwq|awq|gptq|dq))?"
    + _SEP_AFTER,
    re.IGNORECASE,
)
_MLX_MIXED = re.compile(
    _SEP_BEFORE + r"mixed[-_](?P<low>[2-8])[-_](?P<high>[2-8])(?:[-_]?bits?)?" + _SEP_AFTER,
    re.IGNORECASE,
)
_MLX_FLOAT = re.compile(
    _SEP_BEFORE
    + r"(?P<f>bf16|fp16|f16|fp32|f32|float16|fp8|mxfp4|nvfp4|mxfp8|int4|int8)"
    + _SEP_AFTER,
    re.IGNORECASE,
)

_FLOAT_LABELS: dict[str, tuple[str, int]] = {
    "bf16": ("bf16", 16),
    "fp16": ("fp16", 16),
    "f16": ("fp16", 16),
    "float16": ("fp16", 16),
    "fp32": ("fp32", 32),
    "f32": ("fp32", 32),
    "fp8": ("fp8", 8),
    "mxfp4": ("mxfp4", 4),
    "nvfp4": ("nvfp4", 4),
    "mxfp8": ("mxfp8", 8),
    "int4": ("int4", 4),
    "int8": ("int8", 8),
}


def _gguf_bits(label: str) -> int | None:
    core = label.removeprefix("UD-")
    if core in ("BF16", "F16"):
        return 16
    if core == "F32":
        return 32
    if core.startswith("MXFP4"):
        return 4
    digits = re.search(r"\d", core)
    return int(digits.group()) if digits else None


def parse_gguf_quant(name: str) -> QuantLevel | None:
    """The llama.cpp quant type in a GGUF file name, upper case (``Q4_K_M``), or None."""
    matches = list(_GGUF.finditer(name))
    if not matches:
        return None
    label = matches[-1].group("q").upper()
    return QuantLevel(label=label, bits=_gguf_bits(label))


def parse_mlx_quant(name: str) -> QuantLevel | None:
    """``4bit``, ``8bit-DWQ``, ``mixed-3-6``, ``bf16``, ``mxfp4``... in a name, or None."""
    found: list[tuple[int, QuantLevel]] = []
    mixed_spans: list[tuple[int, int]] = []
    for match in _MLX_MIXED.finditer(name):
        low, high = sorted((int(match.group("low")), int(match.group("high"))))
        found.append((match.start(), QuantLevel(label=f"mixed-{low}-{high}", bits=None)))
        mixed_spans.append(match.span())
    for match in _MLX_BITS.finditer(name):
        if any(start <= match.start() < end for start, end in mixed_spans):
            continue  # the "3bit" of "mixed-6-3bit"
        bits = int(match.group("bits"))
        method = match.group("method")
        label = f"{bits}bit" + (f"-{method.upper()}" if method else "")
        found.append((match.start(), QuantLevel(label=label, bits=bits)))
    for match in _MLX_FLOAT.finditer(name):
        label, bits = _FLOAT_LABELS[match.group("f").lower()]
        found.append((match.start(), QuantLevel(label=label, bits=bits)))
    if not found:
        return None
    return max(found, key=lambda item: item[0])[1]


def parse_quant(name: str) -> QuantLevel | None:
    """The level in any name: GGUF spelling first when the name says ``gguf``, else MLX first.

    So ``Qwen2.5-7B-Instruct-GGUF/qwen2.5-7b-instruct-bf16.gguf`` reads ``BF16`` and
    ``Mistral-7B-Instruct-v0.3-bf16`` (an MLX repository) reads ``bf16``.
    """
    if "gguf" in name.lower():
        return parse_gguf_quant(name) or parse_mlx_quant(name)
    return parse_mlx_quant(name) or parse_gguf_quant(name)


def quant_from_config(config: object) -> QuantLevel | None:
    """``{bits}bit`` from an MLX ``quantization`` block (as listings repeat it), else None."""
    if not isinstance(config, dict):
        return None
    for key in ("quantization", "quantization_config"):
        block = config.get(key)
        if isinstance(block, dict):
            bits = block.get("bits")
            if isinstance(bits, int) and not isinstance(bits, bool) and 1 <= bits <= 16:
                return QuantLevel(label=f"{bits}bit", bits=bits)
    return None
