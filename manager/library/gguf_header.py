"""What a GGUF file says about itself: architecture, context length, quantization, size.

Read with the ``gguf`` package (llama.cpp's own reader): magic, version, the key/value
metadata and the tensor table. A file whose magic or header is invalid raises
``InvalidGGUFError``. Keys read: ``general.architecture``, ``general.name``,
``general.file_type``, ``<arch>.context_length``, ``<arch>.block_count``,
``<arch>.embedding_length``, ``<arch>.feed_forward_length``,
``<arch>.attention.head_count(_kv)``, ``<arch>.vocab_size`` (else the tokenizer's length).
The parameter count is the sum of the tensors' element counts (exact, not an estimate).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manager.characteristics import architecture_family, badges
from shared_schemas.characteristics import ModelCharacteristics

GGUF_MAGIC = b"GGUF"
_BITS = re.compile(r"^(?:MOSTLY_)?T?I?Q(\d)")
_FLOAT_TYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


class InvalidGGUFError(ValueError):
    """The file is not a readable GGUF file."""


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    architecture: str | None
    name: str | None
    context_length: int | None
    block_count: int | None
    embedding_length: int | None
    feed_forward_length: int | None
    head_count: int | None
    head_count_kv: int | None
    vocab_size: int | None
    file_type: int | None
    quantization: str | None  # e.g. "Q4_K_M", "F16"
    parameter_count: int | None
    tensor_count: int

    @property
    def quantization_bits(self) -> int | None:
        if self.quantization is None:
            return None
        match = _BITS.match(self.quantization)
        return int(match.group(1)) if match else None


def has_gguf_magic(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _value(fields: dict[str, Any], key: str) -> Any:
    field = fields.get(key)
    if field is None:
        return None
    try:
        return field.contents()
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, list):  # per-layer values (some architectures): take the largest
        ints = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
        return max(ints) if ints else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _file_type_name(file_type: int | None) -> str | None:
    import gguf

    if file_type is None:
        return None
    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return None
    name = name.removeprefix("MOSTLY_")
    return "F32" if name == "ALL_F32" else name


def read_gguf_header(path: Path) -> GGUFHeader:
    """Read the header of the GGUF file at ``path``; ``InvalidGGUFError`` when it is not one."""
    if not has_gguf_magic(path):
        raise InvalidGGUFError(f"{path.name}: not a GGUF file (bad magic number)")
    import gguf

    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # the reader raises ValueError, IndexError, struct errors...
        raise InvalidGGUFError(f"{path.name}: invalid GGUF header ({exc})") from exc
    try:
        fields = reader.fields
        version = _int(_value(fields, "GGUF.version")) or 0
        arch = _str(_value(fields, "general.architecture"))
        prefix = f"{arch}." if arch else "\0"
        vocab = _int(_value(fields, f"{prefix}vocab_size"))
        tokens = fields.get("tokenizer.ggml.tokens")
        if vocab is None and tokens is not None:
            vocab = len(tokens.data) or None
        file_type = _value(fields, "general.file_type")
        file_type = file_type if isinstance(file_type, int) else None
        quantization = _file_type_name(file_type)
        elements: Counter[str] = Counter()
        total = 0
        for tensor in reader.tensors:
            count = int(tensor.n_elements)
            total += count
            elements[tensor.tensor_type.name] += count
        if quantization is None and elements:
            quantization = elements.most_common(1)[0][0]
        return GGUFHeader(
            version=version,
            architecture=arch,
            name=_str(_value(fields, "general.name")),
            context_length=_int(_value(fields, f"{prefix}context_length")),
            block_count=_int(_value(fields, f"{prefix}block_count")),
            embedding_length=_int(_value(fields, f"{prefix}embedding_length")),
            feed_forward_length=_int(_value(fields, f"{prefix}feed_forward_length")),
            head_count=_int(_value(fields, f"{prefix}attention.head_count")),
            head_count_kv=_int(_value(fields, f"{prefix}attention.head_count_kv")),
            vocab_size=vocab,
            file_type=file_type,
            quantization=quantization,
            parameter_count=total or None,
            tensor_count=len(reader.tensors),
        )
    finally:
        del reader


def gguf_characteristics(header: GGUFHeader) -> ModelCharacteristics:
    """Characteristics of a GGUF model from its header (the config.json counterpart)."""
    arch = header.architecture
    quant = header.quantization
    bits = header.quantization_bits
    dtype = _FLOAT_TYPES.get(quant or "")
    ch = ModelCharacteristics(
        model_type=arch,
        architecture_family=architecture_family([arch] if arch else [], []),
        architectures=[],
        context_length=header.context_length,
        num_hidden_layers=header.block_count,
        hidden_size=header.embedding_length,
        intermediate_size=header.feed_forward_length,
        vocab_size=header.vocab_size,
        num_attention_heads=header.head_count,
        num_key_value_heads=header.head_count_kv,
        quantization_bits=bits,
        quantization_method=f"gguf {quant}" if quant and dtype is None else None,
        torch_dtype=dtype,
        parameter_count=header.parameter_count,
    )
    ch.badges = badges(ch)
    return ch
