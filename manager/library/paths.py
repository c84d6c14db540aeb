"""Model ids as the library reads them, and the checks that keep every path inside its root.

An id is a Hub repo id (``org/name`` or ``name``), kept in the Hugging Face cache, or
``local/<name>``, an imported folder in the models directory; the grammar is the shared one
(:mod:`shared_schemas.model_ids`), checked before any path is built. Paths built from ids are
then resolved (symlinks followed) and must stay inside their root
(:func:`shared_schemas.hf_cache.is_inside`).
"""

from __future__ import annotations

import os
from pathlib import Path

from manager.errors import BadRequestError
from shared_schemas.hf_cache import is_inside
from shared_schemas.model_ids import (
    LOCAL_PREFIX,
    MAX_LOCAL_NAME,
    InvalidModelId,
    ModelId,
    is_local_name,
)

__all__ = [
    "LOCAL_PREFIX",
    "escaping_symlinks",
    "is_inside",
    "is_local_id",
    "outside_root",
    "valid_name",
    "validate_local_name",
    "validate_model_id",
]


def _invalid_id(model_id: str) -> BadRequestError:
    return BadRequestError(
        f"invalid model id {model_id[:80]!r}: expected 'org/name' or 'local/<name>' "
        "(letters, digits, '.', '_', '-')",
        code="invalid_model_id",
        param="model_id",
    )


def validate_model_id(model_id: str) -> str:
    """Return ``model_id`` if it is a well-formed id, else raise 400 ``invalid_model_id``."""
    try:
        ModelId.parse(model_id)
    except InvalidModelId:
        raise _invalid_id(model_id) from None
    return model_id


def is_local_id(model_id: str) -> bool:
    return model_id.startswith(LOCAL_PREFIX)


def valid_name(name: str) -> bool:
    """A name ``local/<name>`` can be read back by (``validate_model_id``)."""
    return is_local_name(name)


def validate_local_name(name: str) -> str:
    if not valid_name(name):
        raise BadRequestError(
            f"invalid name {name[:80]!r}: use letters, digits, '.', '_' and '-' "
            f"(at most {MAX_LOCAL_NAME}, starting and ending with a letter or digit, no '..' "
            "or '--')",
            code="invalid_name",
            param="name",
        )
    return name


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
