"""Where models live: the storage defaults both processes share, as pure functions of the
environment.

Both processes resolve their folders here, so one setting serves both:

- ``MODELYARD_HOME``: modelyard's data directory (the manager's database, and ``models/``
  for imported models, served as ``local/<name>``). Default: the platform's user data
  directory (``~/.local/share/modelyard`` on Linux, ``~/Library/Application Support/
  modelyard`` on macOS).
- ``HF_HUB_CACHE`` / ``HF_HOME``: the Hugging Face cache, resolved by huggingface_hub's own
  rules (``HF_HUB_CACHE``, else ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``).

The per-process settings (``MODEL_MANAGER_DATA_DIR``, ``MODEL_MANAGER_HF_CACHE_DIR``,
``MODEL_MANAGER_MODELS_DIR``, ``MLX_SERVER_HF_CACHE_DIR``, ``MLX_SERVER_MODELS_DIRS``) only
override these defaults; when they make the two processes read different folders, the
manager reports it (``folder_mismatches``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

HOME_VARIABLE = "MODELYARD_HOME"
MODELS_SUBDIR = "models"
APP_NAME = "modelyard"


def expand_user(value: str | os.PathLike[str], env: Mapping[str, str]) -> Path:
    """``~`` and ``~/...`` expanded (``~`` is ``env["HOME"]`` when set), as a shell would."""
    text = os.fspath(value).strip()
    if text == "~" or text.startswith("~/"):
        text = (env.get("HOME") or os.path.expanduser("~")) + text[1:]
    elif text.startswith("~"):
        text = os.path.expanduser(text)  # ~user/...
    return Path(text)


def expand_path(value: str | os.PathLike[str], env: Mapping[str, str]) -> Path:
    """``~`` and ``$VAR`` / ``${VAR}`` expanded, as huggingface_hub does for its variables."""
    return Path(_expand_vars(str(expand_user(value, env)), env))


def absolute_folder(value: Path, env: Mapping[str, str], source: str) -> Path:
    """A folder setting with ``~`` expanded; a relative one is refused (it would name a
    different folder for each working directory). ``source`` names where it came from."""
    path = expand_user(value, env)
    if not path.is_absolute():
        raise ValueError(
            f"must be an absolute path, got {str(value)!r} (from {source}): a relative one "
            "names a different folder in each working directory"
        )
    return path


_VARIABLE = re.compile(r"\$(\w+)|\$\{([^}]*)\}")


def _expand_vars(text: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``env``; unknown ones left as written."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _VARIABLE.sub(value, text)


def data_dir(env: Mapping[str, str]) -> Path:
    """modelyard's data directory: ``MODELYARD_HOME``, else the platform's user data dir."""
    home = env.get(HOME_VARIABLE, "").strip()
    if home:
        return expand_path(home, env)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir(env: Mapping[str, str]) -> Path:
    """The folder of imported models both processes read by default: ``<data dir>/models``."""
    return data_dir(env) / MODELS_SUBDIR


def hf_hub_cache(env: Mapping[str, str]) -> Path:
    """The Hugging Face hub cache, by huggingface_hub's rules (see the module docstring)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = env.get(name, "")
        if value:
            return expand_path(value, env)
    return hf_home(env) / "hub"


def hf_home(env: Mapping[str, str]) -> Path:
    value = env.get("HF_HOME", "")
    if value:
        return expand_path(value, env)
    cache = env.get("XDG_CACHE_HOME", "") or str(expand_path("~/.cache", env))
    return expand_path(cache, env) / "huggingface"


def same_folder(a: Path, b: Path) -> bool:
    """Whether two paths name the same folder (after links; a missing folder by its name)."""
    return canonical(a) == canonical(b)


def canonical(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # unreadable, or a symlink loop
        return Path(os.path.abspath(path))


@dataclass(frozen=True)
class FolderMismatch:
    """A folder the manager keeps models in that the inference server does not read."""

    folder: Literal["hf_cache", "models"]
    message: str


def folder_mismatches(
    *,
    hf_cache: Path,
    models: Path,
    inference_hf_cache: Path,
    inference_models: Iterable[Path],
) -> list[FolderMismatch]:
    """Where the manager keeps models and the inference server does not look. Empty when they
    agree. ``hf_cache`` and ``models`` are the manager's folders; the others are the folders
    the inference server reports reading (``GET /admin/capabilities``)."""
    problems: list[FolderMismatch] = []
    if not same_folder(hf_cache, inference_hf_cache):
        message = (
            f"the manager keeps Hub models in {canonical(hf_cache)}, "
            f"but the inference server reads the Hugging Face cache {inference_hf_cache}"
        )
        problems.append(FolderMismatch("hf_cache", message))
    readable = list(inference_models)
    if not any(same_folder(models, root) for root in readable):
        where = ", ".join(str(root) for root in readable) or "no models folder"
        message = (
            f"the manager keeps imported models in {canonical(models)}, "
            f"but the inference server reads {where}"
        )
        problems.append(FolderMismatch("models", message))
    return problems


MISMATCH_ADVICE = (
    "Set MODELYARD_HOME and HF_HUB_CACHE (or HF_HOME) to the same values for both processes, "
    "and drop the per-process folder settings (MODEL_MANAGER_DATA_DIR, "
    "MODEL_MANAGER_HF_CACHE_DIR, MODEL_MANAGER_MODELS_DIR, MLX_SERVER_HF_CACHE_DIR, "
    "MLX_SERVER_MODELS_DIRS) or make them name the same folders."
)
