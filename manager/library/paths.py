"""Model ids and where they live on disk, with the checks that keep every path inside its root.

An id is a Hub repo id (``org/name`` or ``name``), kept in the Hugging Face cache as
``models--org--name``, or ``local/<name>``, an imported folder in the models directory. Ids
are checked before any path is built: no ``..``, no absolute paths, no separators other than
the one ``/``, nothing but letters, digits and ``._-``. Paths built from them are then
resolved (symlinks followed) and must stay inside their root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from manager.errors import BadRequestError

LOCAL_PREFIX = "local/"
MAX_ID_LENGTH = 256
MAX_NAME_LENGTH = 128
REPO_PREFIX = "models--"
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_ID_RE = re.compile(rf"^{_PART}(?:/{_PART})?$")
_NAME_RE = re.compile(rf"^{_PART}$")


def _invalid_id(model_id: str) -> BadRequestError:
    return BadRequestError(
        f"invalid model id {model_id[:80]!r}: expected 'org/name' or 'local/<name>' "
        "(letters, digits, '.', '_', '-')",
        code="invalid_model_id",
        param="model_id",
    )


def validate_model_id(model_id: str) -> str:
    """Return ``model_id`` if it is a well-formed id, else raise 400 ``invalid_model_id``."""
    if not model_id or len(model_id) > MAX_ID_LENGTH:
        raise _invalid_id(model_id)
    if ".." in model_id or "--" in model_id or not _ID_RE.match(model_id):
        raise _invalid_id(model_id)
    return model_id


def is_local_id(model_id: str) -> bool:
    return model_id.startswith(LOCAL_PREFIX)


def valid_name(name: str) -> bool:
    """A name ``local/<name>`` can be read back by (``validate_model_id``): no ``..``/``--``."""
    return (
        len(name) <= MAX_NAME_LENGTH
        and ".." not in name
        and "--" not in name
        and bool(_NAME_RE.match(name))
    )


def validate_local_name(name: str) -> str:
    if not valid_name(name):
        raise BadRequestError(
            f"invalid name {name[:80]!r}: use letters, digits, '.', '_' and '-' "
            f"(at most {MAX_NAME_LENGTH}, starting with a letter or digit, no '..' or '--')",
            code="invalid_name",
            param="name",
        )
    return name


def repo_folder(model_id: str) -> str:
    """``org/name`` → ``models--org--name``."""
    return REPO_PREFIX + model_id.replace("/", "--")


def id_from_repo_folder(folder: str) -> str | None:
    """``models--org--name`` → ``org/name``; None when the folder is not a valid model repo."""
    if not folder.startswith(REPO_PREFIX):
        return None
    model_id = folder[len(REPO_PREFIX) :].replace("--", "/", 1)
    if "--" in model_id or ".." in model_id or not _ID_RE.match(model_id):
        return None
    if model_id.startswith(LOCAL_PREFIX):
        return None
    return model_id


def is_inside(path: Path | str, root: Path | str) -> bool:
    """Whether ``path``, with every symlink resolved, is ``root`` or below it."""
    real = os.path.realpath(path)
    real_root = os.path.realpath(root)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def escaping_symlinks(tree: Path, root: Path) -> list[Path]:
    """Symlinks under ``tree`` (the tree itself included) that resolve outside ``root``."""
    found: list[Path] = []
    if tree.is_symlink() and not is_inside(tree, root):
        found.append(tree)
    if not tree.is_dir() or tree.is_symlink():
        return found
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in [*dirnames, *filenames]:
            entry = Path(dirpath) / name
            if entry.is_symlink() and not is_inside(entry, root):
                found.append(entry)
    return found


def outside_root(paths: list[Path], what: str) -> BadRequestError:
    shown = [str(p) for p in paths[:5]]
    return BadRequestError(
        f"{what} points outside the library ({', '.join(shown)}); nothing was touched",
        code="path_outside_root",
        details={"paths": shown},
    )
