"""The ``config.json`` of a model on this machine (blocking file reads: call off the loop).

- ``org/name``: the Hugging Face cache, ``config.json`` of the repo's current snapshot (the
  rule the library and the inference server use too:
  :func:`shared_schemas.hf_cache.current_snapshot`).
- ``local/<name>``: the imported models folder, ``<models_dir>/<name>/config.json``.

Ids are checked by :mod:`manager.hub.ids` first; the resolved path (symlinks followed, as the
cache links snapshots to blobs) must still lie inside its root, or nothing is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared_schemas.hf_cache import current_snapshot, is_inside, repo_dir
from shared_schemas.model_ids import ModelId

MAX_CONFIG_BYTES = 4 * 2**20


@dataclass(frozen=True)
class LocalConfig:
    config: dict[str, Any] | None
    revision: str | None
    path: Path


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
        snapshot = current_snapshot(repo_dir(hub_cache, model_id))
        if snapshot is None:
            return None
        revision = snapshot.name
        candidate = snapshot / "config.json"
    try:
        if not candidate.is_file() or not is_inside(candidate, root):
            return None
    except OSError:  # e.g. a name longer than the file system allows: not on disk
        return None
    return LocalConfig(_read(candidate), revision, Path(os.path.realpath(candidate)))
