"""What kind of model a folder holds: weight files, format, and what the model is for. Pure
apart from ``safetensors_format``, which reads one file's header."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

from manager.library.schemas import ModelFormat, WeightsKind
from shared_schemas.characteristics import ModelCharacteristics
from shared_schemas.openai import ModelType

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")
_MAX_SAFETENSORS_HEADER = 100 * 2**20

_SPEECH_WORDS = ("whisper", "speech", "wav2vec", "hubert", "encodec", "tts", "audio")
_EMBEDDING_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "distilbert",
        "deberta",
        "deberta-v2",
        "electra",
        "mpnet",
        "nomic_bert",
        "modernbert",
        "e5",
        "gte",
        "jina_bert",
    }
)
_EMBEDDING_SUFFIXES = ("Model", "ForMaskedLM", "ForSentenceEmbedding", "ForTextEncoding")
_IMAGE_WORDS = ("diffusion", "unet", "flux", "dit", "vae")
SENTENCE_TRANSFORMERS_FILES = frozenset({"modules.json", "1_Pooling/config.json"})
EMBEDDING_PIPELINE_TAGS = frozenset({"feature-extraction", "sentence-similarity"})
_CARD_HEAD_BYTES = 4096


def weight_files(names: Iterable[str]) -> tuple[WeightsKind, list[str]]:
    """The weights kind of a model folder from its file names (relative paths), and the files.

    safetensors wins over GGUF, GGUF over pickle-based formats (``.bin``, ``.pt``, ...).
    """
    listed = sorted(names)
    for kind, suffixes in (
        ("safetensors", (".safetensors",)),
        ("gguf", (".gguf",)),
        ("pickle", PICKLE_SUFFIXES),
    ):
        matched = [n for n in listed if n.lower().endswith(suffixes)]
        if kind == "pickle":
            matched = [n for n in matched if not Path(n).name.startswith("training_args")]
        if matched:
            return kind, matched  # type: ignore[return-value]
    return "none", []


def safetensors_format(path: Path) -> str | None:
    """``__metadata__.format`` of a safetensors file ("mlx", "pt", ...), None if unreadable."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                return None
            (size,) = struct.unpack("<Q", raw)
            if size > _MAX_SAFETENSORS_HEADER:
                return None
            header = json.loads(handle.read(size))
    except (OSError, ValueError):
        return None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    value = meta.get("format") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def model_format(
    weights: WeightsKind, config: Mapping[str, object] | None, tensors_format: str | None
) -> ModelFormat:
    """mlx: an MLX conversion (MLX ``quantization`` block or MLX-written safetensors);
    transformers: a Hugging Face checkpoint (safetensors or pickle); gguf; unknown: no weights.
    """
    if weights == "gguf":
        return "gguf"
    if weights == "none":
        return "unknown"
    if weights == "safetensors" and (
        tensors_format == "mlx"
        or (config is not None and isinstance(config.get("quantization"), Mapping))
    ):
        return "mlx"
    return "transformers"


def model_kind(
    model_id: str,
    ch: ModelCharacteristics,
    file_names: Iterable[str] = (),
    pipeline_tag: str | None = None,
) -> ModelType:
    """What the model is for: speech, image, embedding or (by default) chat.

    Embedding models are also recognised by their sentence-transformers files
    (``modules.json``, ``1_Pooling/config.json``) and by the model card's pipeline tag.
    """
    if pipeline_tag in EMBEDDING_PIPELINE_TAGS or any(
        name in SENTENCE_TRANSFORMERS_FILES for name in file_names
    ):
        return "embedding"
    words = " ".join([model_id, ch.model_type or "", *ch.architectures]).lower()
    if any(word in words for word in _SPEECH_WORDS) and not ch.is_multimodal:
        return "speech"
    if any(word in (ch.model_type or "") for word in _IMAGE_WORDS):
        return "image"
    if (ch.model_type or "").lower() in _EMBEDDING_TYPES or "embed" in model_id.lower():
        return "embedding"
    if ch.architectures and all(
        a.endswith(_EMBEDDING_SUFFIXES) and not a.endswith("LMHeadModel") for a in ch.architectures
    ):
        return "embedding"
    return "chat"


def has_tokenizer(names: Iterable[str]) -> bool:
    listed = set(names)
    return any(name in listed for name in TOKENIZER_FILES)


def card_pipeline_tag(readme: Path) -> str | None:
    """``pipeline_tag`` from the YAML front matter of a model card (its first few KiB)."""
    try:
        with readme.open("rb") as handle:
            head = handle.read(_CARD_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    if not head.startswith("---"):
        return None
    match = re.search(r"^pipeline_tag:\s*['\"]?([A-Za-z0-9_-]+)", head, re.MULTILINE)
    return match.group(1) if match else None
