"""What kind of model a folder holds, and which library loads it.

- ``embedding``: sentence-transformers files (``modules.json`` or ``1_Pooling/config.json``)
  or an encoder architecture (BERT, XLM-RoBERTa, ModernBERT, ...). Encoders load through
  ``mlx-embeddings``; decoders trained for embeddings (Qwen3-Embedding) through mlx-lm.
- ``vision``: a ``vision_config`` whose ``model_type`` ``mlx-vlm`` implements.
- ``chat``: everything else, through mlx-lm.

Support checks look for the implementing module without importing it.
"""

from __future__ import annotations

import importlib.util
import re
from enum import StrEnum
from pathlib import Path
from typing import Any


class ModelKind(StrEnum):
    CHAT = "chat"
    EMBEDDING = "embedding"
    VISION = "vision"


# Encoder-only families: their checkpoints are sentence encoders or masked-LM backbones,
# never text generators.
ENCODER_MODEL_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm_roberta",
        "modernbert",
        "distilbert",
        "mpnet",
        "electra",
        "deberta",
        "deberta_v2",
        "nomic_bert",
        "jina_bert",
        "new",
    }
)


def normalized_type(config: dict[str, Any]) -> str:
    model_type = config.get("model_type")
    return model_type.replace("-", "_").lower() if isinstance(model_type, str) else ""


def _module_exists(package: str, name: str) -> bool:
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return False
    try:
        return importlib.util.find_spec(f"{package}.{name}") is not None
    except ImportError:  # the package itself is missing
        return False


def has_sentence_transformers_files(path: Path) -> bool:
    return (path / "modules.json").is_file() or (path / "1_Pooling" / "config.json").is_file()


def is_encoder(config: dict[str, Any]) -> bool:
    return normalized_type(config) in ENCODER_MODEL_TYPES


def mlx_embeddings_supports(model_type: str) -> bool:
    return _module_exists("mlx_embeddings.models", model_type)


def mlx_vlm_supports(model_type: str) -> bool:
    return _module_exists("mlx_vlm.models", model_type)


def classify(path: Path, config: dict[str, Any]) -> ModelKind:
    """The kind of the model in ``path`` with this ``config.json``."""
    if has_sentence_transformers_files(path) or is_encoder(config):
        return ModelKind.EMBEDDING
    if isinstance(config.get("vision_config"), dict) and mlx_vlm_supports(normalized_type(config)):
        return ModelKind.VISION
    return ModelKind.CHAT


def loader_library(kind: ModelKind, config: dict[str, Any]) -> str:
    """The library that loads a model of this kind and config (named in errors)."""
    if kind == ModelKind.VISION:
        return "mlx-vlm"
    if kind == ModelKind.EMBEDDING and is_encoder(config):
        return "mlx-embeddings"
    return "mlx-lm"
