"""Find the models on disk: the Hugging Face cache and the models directory. Blocking: run it in
a thread (``asyncio.to_thread``), never on the event loop.

A Hub model is a cache repo whose current snapshot (one rule for both processes:
:func:`shared_schemas.hf_cache.current_snapshot`) holds a ``config.json`` or a ``.gguf`` file. An
imported model is a folder ``<models dir>/<name>`` with a ``config.json`` or a ``.gguf``
file; hidden entries (staging folders of imports in progress) are skipped.

The disk is the truth, and it is scanned on every call, cheaply: each repo or folder is
remembered with the modification times that change whenever it does (a repo: ``refs/main``,
the snapshots folder, the current snapshot; a folder: itself and ``config.json``), so an
unchanged one costs two or three ``stat`` calls and a changed one is read again. A cache
repo's blobs are not watched (a blob lands together with its snapshot link); whoever removes
blobs alone (storage cleanup) calls ``forget``. Characteristics are kept by the hash of the
config (or of the GGUF header), so a config read twice is parsed once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manager.characteristics import extract_characteristics
from manager.library.formats import (
    card_pipeline_tag,
    model_format,
    model_kind,
    safetensors_format,
    weight_files,
)
from manager.library.gguf_header import InvalidGGUFError, gguf_characteristics, read_gguf_header
from manager.library.paths import LOCAL_PREFIX, valid_name
from manager.library.schemas import ModelFormat, ModelSource, WeightsKind
from shared_schemas.characteristics import ModelCharacteristics
from shared_schemas.hf_cache import (
    blobs_dir,
    current_snapshot,
    is_inside,
    is_partial,
    ref_path,
    repo_dir,
    snapshots_dir,
)
from shared_schemas.model_ids import ModelId, is_cache_folder_name
from shared_schemas.openai import ModelType

logger = logging.getLogger(__name__)

_GGUF_KEY_BYTES = 64 * 1024
# Salt of the characteristics cache key: a new field in ModelCharacteristics is a new key.
_KEY_SALT = ("v1:" + ",".join(sorted(ModelCharacteristics.model_fields))).encode()


@dataclass(frozen=True)
class ScannedModel:
    """One model found on disk, as the disk tells it."""

    id: str
    source: ModelSource
    path: Path
    repo_path: Path | None
    revision: str | None
    revisions: tuple[str, ...]
    size_bytes: int
    file_count: int
    format: ModelFormat
    weights: WeightsKind
    weight_bytes: int
    gguf_files: tuple[str, ...]
    config: Mapping[str, Any] | None
    config_hash: str | None
    characteristics: ModelCharacteristics
    kind: ModelType
    modified_at: float
    characteristics_dict: dict[str, Any] = field(compare=False, repr=False)


def _config_key(data: bytes) -> str:
    return hashlib.sha256(_KEY_SALT + b"\0config\0" + data).hexdigest()


def _gguf_key(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(_GGUF_KEY_BYTES)
        size = path.stat().st_size
    except OSError:
        return None
    return hashlib.sha256(_KEY_SALT + b"\0gguf\0" + head + str(size).encode()).hexdigest()


def _walk_files(root: Path) -> list[tuple[str, Path]]:
    """Files under ``root`` as (relative posix path, path), hidden entries skipped."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for name in filenames:
            if name.startswith("."):
                continue
            path = base / name
            out.append((path.relative_to(root).as_posix(), path))
    return out


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


@dataclass
class _Remembered:
    """A repo or folder as last read: the paths whose modification times say whether it
    changed, those times, and what was found (None: not a model)."""

    watch: tuple[str, ...]
    signature: tuple[int | None, ...]
    model: ScannedModel | None


def _signature(watch: tuple[str, ...]) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for path in watch:
        try:
            out.append(os.stat(path).st_mtime_ns)
        except OSError:
            out.append(None)
    return tuple(out)


class LibraryScanner:
    """Scans the cache and the models directory; thread-safe, one scan at a time."""

    def __init__(self, cache_dir: Path, models_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._hub: dict[str, _Remembered] = {}
        self._local: dict[str, _Remembered] = {}
        self._characteristics: dict[str, ModelCharacteristics] = {}

    # ---- the characteristics cache ------------------------------------------------------------

    def seed(self, cached: Mapping[str, ModelCharacteristics]) -> None:
        """Characteristics already known (from the registry), by config hash."""
        with self._lock:
            self._characteristics.update(cached)

    def _from_config(
        self, data: bytes
    ) -> tuple[Mapping[str, Any] | None, str, ModelCharacteristics]:
        key = _config_key(data)
        try:
            config = json.loads(data)
        except ValueError:
            config = None
        if not isinstance(config, dict):
            config = None
        known = self._characteristics.get(key)
        if known is None:
            known = extract_characteristics(config)
            self._characteristics[key] = known
        return config, key, known

    def _from_gguf(self, path: Path) -> tuple[str | None, ModelCharacteristics]:
        key = _gguf_key(path)
        if key is not None and key in self._characteristics:
            return key, self._characteristics[key]
        try:
            found = gguf_characteristics(read_gguf_header(path))
        except InvalidGGUFError as exc:
            logger.warning("skipping GGUF metadata: %s", exc)
            found = ModelCharacteristics()
        if key is not None:
            self._characteristics[key] = found
        return key, found

    # ---- scanning -----------------------------------------------------------------------------

    def scan(self) -> list[ScannedModel]:
        """Every model on disk, Hub cache first then imports, each group sorted by id."""
        with self._lock:
            found = self._scan_hub() + self._scan_local()
            used = {m.config_hash for m in found}
            for key in set(self._characteristics) - used:
                del self._characteristics[key]
        return found

    def find(self, model_id: str) -> ScannedModel | None:
        """One model, looked at afresh."""
        return next((m for m in self.scan() if m.id == model_id), None)

    def forget(self, model_id: str) -> None:
        with self._lock:
            if model_id.startswith(LOCAL_PREFIX):
                self._local.pop(model_id[len(LOCAL_PREFIX) :], None)
            else:
                self._hub.pop(repo_dir(self.cache_dir, model_id).name, None)

    def _scan_hub(self) -> list[ScannedModel]:
        try:
            with os.scandir(self.cache_dir) as entries:
                folders = sorted(e.name for e in entries if is_cache_folder_name(e.name))
        except OSError:
            self._hub.clear()
            return []
        seen = set(folders)
        for gone in set(self._hub) - seen:
            del self._hub[gone]
        found = []
        for folder in folders:
            known = self._hub.get(folder)
            if known is not None and _signature(known.watch) == known.signature:
                model = known.model
            else:
                model = self._hub_repo(folder)
            if model is not None:
                found.append(model)
        return found

    def _hub_repo(self, folder: str) -> ScannedModel | None:
        """Read one cache repo. Watched afterwards: ``refs/main`` (the current commit), the
        snapshots folder (revisions added or removed) and the current snapshot (files linked
        in or out); ``config.json`` too when it is a plain file that could be edited in place
        (in the standard layout it is a link to an immutable blob)."""
        repo = self.cache_dir / folder
        parsed = ModelId.from_folder_name(folder)
        model_id = str(parsed) if parsed is not None else None
        watch: tuple[str, ...] = (str(ref_path(repo)), str(snapshots_dir(repo)))
        snapshot = current_snapshot(repo) if model_id is not None else None
        if snapshot is not None:
            watch += (str(snapshot),)
            config = snapshot / "config.json"
            if config.exists() and not config.is_symlink():
                watch += (str(config),)
        signature = _signature(watch)
        model = None
        if model_id is not None and snapshot is not None and is_inside(repo, self.cache_dir):
            model = self._read_hub_model(model_id, repo, snapshot)
        self._hub[folder] = _Remembered(watch, signature, model)
        return model

    def _read_hub_model(self, model_id: str, repo: Path, snapshot: Path) -> ScannedModel | None:
        files = _walk_files(snapshot)
        names = [rel for rel, _ in files]
        if "config.json" not in names and not any(n.lower().endswith(".gguf") for n in names):
            return None
        try:
            revisions = tuple(sorted(p.name for p in snapshots_dir(repo).iterdir() if p.is_dir()))
        except OSError:
            revisions = (snapshot.name,)
        return self._build(
            model_id=model_id,
            source="hub",
            folder=snapshot,
            repo=repo,
            revision=snapshot.name,
            revisions=revisions,
            files=files,
            size_bytes=_repo_size(repo),
        )

    def _scan_local(self) -> list[ScannedModel]:
        root = self.models_dir
        try:
            with os.scandir(root) as entries:
                names = sorted(e.name for e in entries if not e.name.startswith("."))
        except OSError:
            self._local.clear()
            return []
        for gone in set(self._local) - set(names):
            del self._local[gone]
        found = []
        for name in names:
            if not valid_name(name):
                continue
            model = self._local_folder(name, root / name)
            if model is not None:
                found.append(model)
        return found

    def _local_folder(self, name: str, folder: Path) -> ScannedModel | None:
        known = self._local.get(name)
        if known is not None and _signature(known.watch) == known.signature:
            return known.model
        watch: tuple[str, ...] = (str(folder), os.path.join(folder, "config.json"))
        signature = _signature(watch)
        model = None
        if folder.is_dir() and is_inside(folder, self.models_dir):
            model = self._read_local_model(name, folder)
        if model is not None and model.gguf_files:
            first = os.path.join(folder, model.gguf_files[0])
            watch, signature = (*watch, first), (*signature, *_signature((first,)))
        self._local[name] = _Remembered(watch, signature, model)
        return model

    def _read_local_model(self, name: str, folder: Path) -> ScannedModel | None:
        files = _walk_files(folder)
        names = [rel for rel, _ in files]
        if "config.json" not in names and not any(n.lower().endswith(".gguf") for n in names):
            return None
        return self._build(
            model_id=LOCAL_PREFIX + name,
            source="imported",
            folder=folder,
            repo=None,
            revision=None,
            revisions=(),
            files=files,
            size_bytes=sum(_file_size(path) for _, path in files),
        )

    def _build(
        self,
        *,
        model_id: str,
        source: ModelSource,
        folder: Path,
        repo: Path | None,
        revision: str | None,
        revisions: tuple[str, ...],
        files: list[tuple[str, Path]],
        size_bytes: int,
    ) -> ScannedModel:
        by_name = dict(files)
        weights, weight_names = weight_files(by_name)
        config: Mapping[str, Any] | None = None
        config_hash: str | None = None
        characteristics = ModelCharacteristics()
        if "config.json" in by_name:
            try:
                data = by_name["config.json"].read_bytes()
            except OSError:
                data = b""
            config, config_hash, characteristics = self._from_config(data)
        gguf = tuple(n for n in weight_names if weights == "gguf")
        if config is None and gguf:
            config_hash, characteristics = self._from_gguf(by_name[gguf[0]])
        tensors_format = (
            safetensors_format(by_name[weight_names[0]]) if weights == "safetensors" else None
        )
        weight_bytes = sum(_file_size(by_name[n]) for n in weight_names)
        if gguf and len(gguf) > 1:
            weight_bytes = _file_size(by_name[gguf[0]])
        return ScannedModel(
            id=model_id,
            source=source,
            path=folder,
            repo_path=repo,
            revision=revision,
            revisions=revisions,
            size_bytes=size_bytes,
            file_count=len(files),
            format=model_format(weights, config, tensors_format),
            weights=weights,
            weight_bytes=weight_bytes,
            gguf_files=gguf,
            config=config,
            config_hash=config_hash,
            characteristics=characteristics,
            kind=_kind(model_id, characteristics, by_name),
            modified_at=(_signature((str(folder),))[0] or 0) / 1e9,
            characteristics_dict=characteristics.model_dump(),
        )


def _kind(model_id: str, ch: ModelCharacteristics, by_name: dict[str, Path]) -> ModelType:
    kind = model_kind(model_id, ch, by_name)
    if kind == "chat" and "README.md" in by_name:  # the card may say "feature-extraction"
        kind = model_kind(model_id, ch, pipeline_tag=card_pipeline_tag(by_name["README.md"]))
    return kind


def _repo_size(repo: Path) -> int:
    """Bytes a cache repo holds: complete blobs plus any regular files kept in snapshots."""
    total = 0
    try:
        with os.scandir(blobs_dir(repo)) as blobs:
            for blob in blobs:
                if not is_partial(blob.name) and blob.is_file():
                    total += blob.stat().st_size
    except OSError:
        pass
    for dirpath, _dirs, filenames in os.walk(snapshots_dir(repo)):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += _file_size(Path(path))
    return total
