"""What kind of model a folder holds, and which library loads it.

- ``embedding``: sentence-transformers files (``modules.json`` or ``1_Pooling/config.json``)
  or an encoder architecture (BERT, XLM-RoBERTa, ModernBERT, ...). Encoders load through
  ``mlx-embeddings``; decoders trained for embeddings (Qwen3-Embedding) through mlx-lm.
- ``vision``: a ``vision_config`` whose ``model_type`` ``mlx-vlm`` implements.
- ``chat``: everything else, through mlx-lm.

Support checks read the libraries' ``models`` folders without importing them.
"""

from __future__ import annotations

import functools
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


def _models_folder(package: str) -> Path | None:
    """The ``models`` folder of an installed package, found without importing it (importing
    mlx-vlm or mlx-embeddings pulls in transformers: seconds, and the GIL meanwhile)."""
    try:
        spec = importlib.util.find_spec(package)  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


# ``class Model`` in a module, or ``Model`` imported by a package's ``__init__.py`` (on one
# line, or alone on a line of a parenthesised import).
_MODEL = re.compile(r"^class Model\b|^from \S+ import [^\n(]*\bModel\b|^\s+Model,?\s*$", re.M)


def _defines_model(source: Path) -> bool:
    try:
        return _MODEL.search(source.read_text(errors="replace")) is not None
    except OSError:
        return False


@functools.lru_cache(maxsize=4)
def _library_model_types(package: str) -> frozenset[str]:
    """The model types a library's ``models`` folder implements: its modules and packages
    that define or export ``Model`` (helpers such as ``base`` or ``cache`` do not)."""
    folder = _models_folder(package)
    if folder is None:
        return frozenset()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return frozenset()
    types = set()
    for entry in entries:
        name = entry.name.removesuffix(".py")
        if not re.fullmatch(r"[a-z0-9_]+", name) or name.startswith("_"):
            continue
        source = entry / "__init__.py" if entry.is_dir() else entry
        if (entry.is_dir() or entry.suffix == ".py") and _defines_model(source):
            types.add(name)
    return frozenset(types)


def embedding_model_types() -> frozenset[str]:
    """The model types ``mlx-embeddings`` loads (read from its files, once)."""
    return _library_model_types("mlx_embeddings")


def vision_model_types() -> frozenset[str]:
    """The model types ``mlx-vlm`` loads (read from its files, once)."""
    return _library_model_types("mlx_vlm")


def has_sentence_transformers_files(path: Path) -> bool:
    return (path / "modules.json").is_file() or (path / "1_Pooling" / "config.json").is_file()


def is_encoder(config: dict[str, Any]) -> bool:
    return normalized_type(config) in ENCODER_MODEL_TYPES


def mlx_embeddings_supports(model_type: str) -> bool:
    return model_type in embedding_model_types()


def mlx_vlm_supports(model_type: str) -> bool:
    return model_type in vision_model_types()


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
