"""The ``config.json`` of a model on this machine (blocking file reads: call off the loop).

- ``org/name``: the Hugging Face cache, ``models--org--name/snapshots/<refs/main>/config.json``
  (the only snapshot when ``refs/main`` is missing).
- ``local/<name>``: the imported models folder, ``<models_dir>/<name>/config.json``.

Ids are checked by :mod:`manager.hub.ids` first; the resolved path (symlinks followed, as the
cache links snapshots to blobs) must still lie inside its root, or nothing is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manager.hub.ids import ModelId, cache_folder_name

MAX_CONFIG_BYTES = 4 * 2**20
_REVISION = re.compile(r"[0-9A-Za-z]{1,64}")


@dataclass(frozen=True)
class LocalConfig:
    config: dict[str, Any] | None
    revision: str | None
    path: Path


def _inside(path: Path, root: Path) -> Path | None:
    """``path`` resolved, if it exists as a file inside ``root`` (resolved), else None."""
    try:
        resolved = path.resolve(strict=True)
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(real_root) or not resolved.is_file():
        return None
    return resolved


def _snapshot(repo: Path) -> str | None:
    try:
        ref = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        ref = ""
    if ref:
        return ref if _REVISION.fullmatch(ref) else None
    try:
        snapshots = [p.name for p in (repo / "snapshots").iterdir() if p.is_dir()]
    except OSError:
        return None
    if len(snapshots) == 1 and _REVISION.fullmatch(snapshots[0]):
        return snapshots[0]
    return None


def _read(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it is too big or not a JSON object."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_CONFIG_BYTES:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_local_config(
    model_id: ModelId, *, hub_cache: Path, models_dir: Path
) -> LocalConfig | None:
    """The local config of ``model_id``, or None when this machine has no copy of it.

    A copy whose config.json is not a JSON object comes back with ``config`` None.
    """
    if model_id.is_local:
        root = models_dir
        candidate = models_dir / model_id.name / "config.json"
        revision = None
    else:
        root = hub_cache
        repo = hub_cache / cache_folder_name(model_id)
        revision = _snapshot(repo)
        if revision is None:
            return None
        candidate = repo / "snapshots" / revision / "config.json"
    path = _inside(candidate, root)
    if path is None:
        return None
    return LocalConfig(_read(path), revision, path)
