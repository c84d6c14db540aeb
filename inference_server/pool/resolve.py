"""Find a model's folder on disk, offline, and check that MLX can load it.

Ids are Hub repo ids (``org/name``, found in the Hugging Face cache) or ``local/<name>``
(found in one of the configured models directories). Nothing is ever downloaded.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference_server.errors import BadRequestError, ModelNotFoundError, ModelNotLoadableError
from inference_server.pool.kinds import (
    ENCODER_MODEL_TYPES,
    ModelKind,
    classify,
    embedding_model_types,
    loader_library,
    mlx_embeddings_supports,
    mlx_vlm_supports,
    normalized_type,
    vision_model_types,
)
from shared_schemas.hf_cache import current_snapshot, is_inside, repo_dir
from shared_schemas.model_config import context_length
from shared_schemas.model_ids import (
    LOCAL_PREFIX,
    InvalidModelId,
    ModelId,
    is_cache_folder_name,
    is_local_name,
)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@functools.lru_cache(maxsize=1)
def loadable_model_types() -> frozenset[str]:
    """The ``model_type`` values the installed mlx-lm can load: its model modules (those that
    define ``Model`` and ``ModelArgs``) and the types it maps onto them (``MODEL_REMAPPING``,
    ``MODEL_ARCHITECTURE_REMAPPING``). Empty when mlx-lm is not installed.

    Read from mlx-lm's files, not imported: importing ``mlx_lm`` pulls in transformers
    (seconds), and ``inference_server.app`` must not import MLX before ``cpu_blas.py`` runs.
    Computed once per process; ``/admin/capabilities`` reports it and loads check it.
    """
    package = _mlx_lm_dir()
    if package is None:
        return frozenset()
    own = {
        name
        for name, source in _model_modules(package / "models")
        if {"Model", "ModelArgs"} <= _top_level_names(source)
    }
    types = set(own)
    utils = _module_literals(package / "utils.py")
    for alias, target in (utils.get("MODEL_REMAPPING") or {}).items():
        if target in own:
            types.add(str(alias))
    for key, target in (utils.get("MODEL_ARCHITECTURE_REMAPPING") or {}).items():
        if target in own and isinstance(key, tuple) and key:
            types.add(str(key[0]))
    return frozenset(types)


def served_model_types() -> frozenset[str]:
    """Every ``model_type`` this server loads (``/admin/capabilities`` reports it): mlx-lm's,
    the encoders mlx-embeddings loads (embedding models) and the models mlx-vlm loads (with a
    ``vision_config``; see ``pool/kinds.py``)."""
    encoders = embedding_model_types() & ENCODER_MODEL_TYPES
    return loadable_model_types() | encoders | vision_model_types()


def _mlx_lm_dir() -> Path | None:
    """The installed mlx_lm package folder, found without importing it."""
    try:
        spec = importlib.util.find_spec("mlx_lm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _model_modules(folder: Path) -> list[tuple[str, Path]]:
    """``(name, source file)`` of each module and package in mlx-lm's ``models`` folder."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.endswith(".py") and entry != "__init__.py":
            found.append((entry.removesuffix(".py"), folder / entry))
        elif (folder / entry / "__init__.py").is_file():
            found.append((entry, folder / entry / "__init__.py"))
    return found


def _parse(source: Path) -> ast.Module | None:
    try:
        return ast.parse(source.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None


def _top_level_names(source: Path) -> set[str]:
    """Names a module binds at its top level (classes, functions, imports, assignments)."""
    tree = _parse(source)
    names: set[str] = set()
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _module_literals(source: Path) -> dict[str, Any]:
    """The top-level ``NAME = {...}`` dict literals of a module."""
    tree = _parse(source)
    found: dict[str, Any] = {}
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = value
    return found


@dataclass(frozen=True)
class ResolvedModel:
    id: str
    path: Path
    config: dict[str, Any]
    weight_bytes: int
    kind: ModelKind = ModelKind.CHAT

    @property
    def context_length(self) -> int | None:
        return context_length(self.config)


def validate_model_id(model_id: str) -> str:
    """``model_id`` when the shared grammar accepts it, else 400 ``invalid_model_id``."""
    try:
        ModelId.parse(model_id)
    except InvalidModelId as exc:
        raise BadRequestError(
            f"{exc}; expected 'org/name' or 'local/<name>'",
            code="invalid_model_id",
            param="model",
        ) from None
    return model_id


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def find_model_path(model_id: str, cache_dir: Path, models_dirs: list[Path]) -> Path | None:
    validate_model_id(model_id)
    if model_id.startswith(LOCAL_PREFIX):
        name = model_id[len(LOCAL_PREFIX) :]
        for root in models_dirs:
            candidate = root / name
            if not _is_dir(candidate):
                continue
            if not is_inside(candidate, root):
                raise BadRequestError(
                    f"{model_id}: the model folder leads outside the models directories",
                    code="path_outside_roots",
                    param="model",
                    resolution_steps=["Copy or import the model into the models directory."],
                )
            return candidate
        return None
    return current_snapshot(repo_dir(cache_dir, model_id))


def model_type_supported(model_type: str) -> bool:
    return model_type in loadable_model_types()


def inspect_folder(model_id: str, path: Path) -> ResolvedModel:
    """Check a folder holds a model mlx-lm can load; say what is wrong when it does not."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelNotLoadableError(
            f"{model_id}: no config.json in {path.name}", details={"missing": "config.json"}
        )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotLoadableError(f"{model_id}: config.json is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelNotLoadableError(f"{model_id}: config.json is not a JSON object")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ModelNotLoadableError(f"{model_id}: config.json has no model_type")
    kind = classify(path, config)
    if not _loadable(kind, config):
        library = loader_library(kind, config)
        raise ModelNotLoadableError(
            f"{model_id}: model_type {model_type!r} is not supported by the installed {library}",
            code="unsupported_model_type",
            details={"model_type": model_type, "kind": kind.value, "library": library},
        )
    names = os.listdir(path)
    weights = [n for n in names if n.endswith(".safetensors")]
    if not weights:
        if any(n.lower().endswith(".gguf") for n in names):
            raise ModelNotLoadableError(
                f"{model_id}: GGUF models are not loaded by this server",
                code="unsupported_format",
                resolution_steps=["Download an MLX variant of this model from the Hub."],
            )
        unsafe = sorted(n for n in names if n.lower().endswith(PICKLE_SUFFIXES))
        if unsafe:
            raise ModelNotLoadableError(
                f"{model_id}: only pickle-based weights ({', '.join(unsafe[:3])}); "
                "they can run code when loaded and are never loaded here",
                code="unsafe_format",
                details={"unsafe_files": unsafe[:20]},
                resolution_steps=["Download an MLX (safetensors) variant of this model."],
            )
        raise ModelNotLoadableError(
            f"{model_id}: no *.safetensors weights in the model folder",
            code="no_weights",
            details={"missing": "*.safetensors"},
        )
    size = sum((path / n).stat().st_size for n in weights)
    return ResolvedModel(id=model_id, path=path, config=config, weight_bytes=size, kind=kind)


def _loadable(kind: ModelKind, config: dict[str, Any]) -> bool:
    library = loader_library(kind, config)
    if library == "mlx-embeddings":
        return mlx_embeddings_supports(normalized_type(config))
    if library == "mlx-vlm":
        return mlx_vlm_supports(normalized_type(config))
    return model_type_supported(str(config["model_type"]))


def resolve_model(model_id: str, cache_dir: Path, models_dirs: list[Path]) -> ResolvedModel:
    path = find_model_path(model_id, cache_dir, models_dirs)
    if path is None:
        raise ModelNotFoundError(
            f"The model '{model_id}' does not exist or is not downloaded",
            param="model",
            resolution_steps=[
                "Download it with the manager (POST /api/downloads).",
                "List the models that can be served with GET /v1/models.",
            ],
        )
    return inspect_folder(model_id, path)


def list_local_model_ids(cache_dir: Path, models_dirs: list[Path]) -> list[str]:
    """Ids of model folders on disk that have a config.json (cheap scan, no validation)."""
    ids: list[str] = []
    if cache_dir.is_dir():
        for entry in sorted(os.listdir(cache_dir)):
            parsed = ModelId.from_folder_name(entry) if is_cache_folder_name(entry) else None
            if parsed is None:
                continue
            snapshot = current_snapshot(cache_dir / entry)
            if snapshot is not None and (snapshot / "config.json").is_file():
                ids.append(str(parsed))
    for root in models_dirs:
        if not root.is_dir():
            continue
        for entry in sorted(os.listdir(root)):
            folder = root / entry
            if not is_local_name(entry) or not is_inside(folder, root):
                continue  # a name no request could ask for, or a link out of the root
            if (folder / "config.json").is_file():
                ids.append(LOCAL_PREFIX + entry)
    return ids
