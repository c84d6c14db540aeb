"""How an embedding model turns hidden states into one vector, read from its own files.

sentence-transformers saves a model as a pipeline in ``modules.json``: the Transformer,
then ``Pooling`` (its modes in ``1_Pooling/config.json``), then optionally ``Normalize``.
That pipeline is followed exactly; a module that would change the vectors and is not
implemented here (``Dense``, ``LayerNorm``, ...) makes the model refuse to load, by name.
A folder without a pooling configuration is refused too: the pooling is never guessed.

Truncation to fewer dimensions (``dimensions``) is offered only for models trained for it
(Matryoshka): the model card's tags name the Matryoshka loss, or the family documents it
(Qwen3-Embedding: 32 dimensions and up).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from inference_server.errors import ModelNotLoadableError
from inference_server.pool.kinds import is_encoder, normalized_type
from shared_schemas.model_config import context_length

# sentence-transformers' pooling flags, in the order it concatenates their outputs.
POOLING_FLAGS = (
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
)
_MODULE_PREFIX = "sentence_transformers.models."
_FOLLOWED = {"Transformer", "Pooling", "Normalize"}
# Families whose model cards document Matryoshka truncation, by model_type of a decoder
# embedding model, with the smallest documented dimension.
DOCUMENTED_MATRYOSHKA = {"qwen3": 32}
_ROBERTA_LIKE = {"roberta", "xlm_roberta"}  # positions start after the padding id


@dataclass(frozen=True)
class EmbeddingSpec:
    architecture: Literal["encoder", "decoder"]
    pooling: tuple[str, ...]
    normalize: bool
    dimension: int
    max_tokens: int | None
    matryoshka_min: int | None  # None: ``dimensions`` is refused

    @property
    def matryoshka(self) -> bool:
        return self.matryoshka_min is not None


def _read_json(path: Path, model_id: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotLoadableError(f"{model_id}: {path.name} is not valid JSON ({exc})") from exc


def _inside(folder: Path, relative: str) -> Path | None:
    candidate = (folder / relative).resolve()
    try:
        candidate.relative_to(folder.resolve())
    except ValueError:
        return None
    return candidate


def _modules(path: Path, model_id: str) -> list[dict[str, Any]] | None:
    modules_path = path / "modules.json"
    if not modules_path.is_file():
        return None
    modules = _read_json(modules_path, model_id)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelNotLoadableError(f"{model_id}: modules.json is not a list of modules")
    for module in modules:
        name = str(module.get("type", "")).removeprefix(_MODULE_PREFIX)
        if name not in _FOLLOWED:
            raise ModelNotLoadableError(
                f"{model_id}: the sentence-transformers module {module.get('type')!r} is not "
                "supported here (only Transformer, Pooling and Normalize)",
                code="unsupported_embedding_module",
                details={"module": module.get("type")},
            )
    return modules


def _pooling(path: Path, model_id: str, modules: list[dict[str, Any]] | None) -> tuple[str, ...]:
    folder = "1_Pooling"
    for module in modules or []:
        if str(module.get("type", "")).endswith("Pooling"):
            folder = str(module.get("path") or folder)
    config_path = _inside(path, folder)
    config_path = config_path / "config.json" if config_path is not None else None
    if config_path is None or not config_path.is_file():
        raise ModelNotLoadableError(
            f"{model_id}: no pooling configuration ({folder}/config.json); the pooling of an "
            "embedding model is read from its files, never guessed",
            code="pooling_unknown",
            resolution_steps=[
                "Use a sentence-transformers export of the model (modules.json and "
                "1_Pooling/config.json)."
            ],
        )
    config = _read_json(config_path, model_id)
    if not isinstance(config, dict):
        raise ModelNotLoadableError(f"{model_id}: {folder}/config.json is not a JSON object")
    modes = tuple(mode for flag, mode in POOLING_FLAGS if config.get(flag) is True)
    if not modes:
        raise ModelNotLoadableError(
            f"{model_id}: {folder}/config.json enables no pooling mode", code="pooling_unknown"
        )
    return modes


def _max_tokens(path: Path, config: dict[str, Any], model_id: str) -> int | None:
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        value = _read_json(st_config, model_id)
        length = value.get("max_seq_length") if isinstance(value, dict) else None
        if isinstance(length, int) and length > 0:
            return length
    positions = context_length(config)
    if positions is None:
        return None
    if normalized_type(config) in _ROBERTA_LIKE:
        positions -= int(config.get("pad_token_id") or 1) + 1
    return positions


def _card_tags(path: Path) -> list[str]:
    """The ``tags`` of the model card's YAML front matter (a plain reading of its list)."""
    try:
        text = (path / "README.md").read_text(errors="replace")
    except OSError:
        return []
    match = re.match(r"---\s*\n(.*?)\n---", text, re.DOTALL)
    if not match:
        return []
    tags: list[str] = []
    in_tags = False
    for line in match.group(1).splitlines():
        if re.match(r"^tags\s*:", line):
            in_tags = True
            inline = line.split(":", 1)[1].strip()
            if inline.startswith("["):
                tags += [t.strip(" '\"") for t in inline.strip("[]").split(",") if t.strip()]
                in_tags = False
            continue
        if in_tags:
            item = re.match(r"^\s*-\s*(.+)$", line)
            if item:
                tags.append(item.group(1).strip(" '\""))
            elif line.strip():
                in_tags = False
    return tags


def _matryoshka_min(path: Path, config: dict[str, Any], architecture: str) -> int | None:
    if any("matryoshka" in tag.lower() for tag in _card_tags(path)):
        return 1
    if architecture == "decoder":
        return DOCUMENTED_MATRYOSHKA.get(normalized_type(config))
    return None


def hidden_size(config: dict[str, Any]) -> int | None:
    for source in (config, config.get("text_config") or {}):
        value = source.get("hidden_size") if isinstance(source, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def read_spec(model_id: str, path: Path, config: dict[str, Any]) -> EmbeddingSpec:
    """The embedding pipeline of the model in ``path``; refuses what it cannot follow."""
    modules = _modules(path, model_id)
    pooling = _pooling(path, model_id, modules)
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules or [])
    width = hidden_size(config)
    if width is None:
        raise ModelNotLoadableError(f"{model_id}: config.json has no hidden_size")
    architecture: Literal["encoder", "decoder"] = "encoder" if is_encoder(config) else "decoder"
    return EmbeddingSpec(
        architecture=architecture,
        pooling=pooling,
        normalize=normalize,
        dimension=width * len(pooling),
        max_tokens=_max_tokens(path, config, model_id),
        matryoshka_min=_matryoshka_min(path, config, architecture),
    )
