"""Model ids, checked before anything leaves the process or touches the disk. Pure.

A Hub id is ``name`` or ``org/name``: each part starts and ends with a letter or digit, holds
only letters, digits, ``-``, ``_`` and ``.``, never ``--`` or ``..``, and is at most 96
characters (the Hub's own rules). A local id is ``local/<name>`` with the same rules for
``name``. Anything else is refused with :class:`~manager.errors.BadRequestError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from manager.errors import BadRequestError

LOCAL_NAMESPACE = "local"
MAX_PART = 96
MAX_ID = 2 * MAX_PART + 1

_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class ModelId:
    """A checked id: ``namespace`` is None for a bare Hub name such as ``gpt2``."""

    namespace: str | None
    name: str

    @property
    def is_local(self) -> bool:
        return self.namespace == LOCAL_NAMESPACE

    def __str__(self) -> str:
        return self.name if self.namespace is None else f"{self.namespace}/{self.name}"


def _bad(model_id: str, why: str) -> BadRequestError:
    shown = model_id if len(model_id) <= 120 else model_id[:117] + "..."
    return BadRequestError(
        f"invalid model id {shown!r}: {why}",
        param="model_id",
        details={"model_id": shown},
        resolution_steps=["Use a Hub id such as 'org/name', or 'local/<name>'."],
    )


def _check_part(model_id: str, part: str) -> None:
    if not part:
        raise _bad(model_id, "empty part")
    if len(part) > MAX_PART:
        raise _bad(model_id, f"a part is longer than {MAX_PART} characters")
    if ".." in part or "--" in part:
        raise _bad(model_id, "'..' and '--' are not allowed")
    if not _PART.fullmatch(part):
        raise _bad(
            model_id,
            "only letters, digits, '-', '_' and '.' are allowed, "
            "starting and ending with a letter or digit",
        )


def parse_model_id(model_id: str) -> ModelId:
    """Check ``model_id`` and split it; raises BadRequestError (400) when it is not valid."""
    if not model_id:
        raise _bad(model_id, "empty")
    if len(model_id) > MAX_ID:
        raise _bad(model_id, f"longer than {MAX_ID} characters")
    parts = model_id.split("/")
    if len(parts) > 2:
        raise _bad(model_id, "expected 'name' or 'org/name'")
    for part in parts:
        _check_part(model_id, part)
    if len(parts) == 1:
        return ModelId(None, parts[0])
    return ModelId(parts[0], parts[1])


def parse_hub_id(model_id: str) -> ModelId:
    """A Hub id (``local/...`` is refused: imported models are not on the Hub)."""
    parsed = parse_model_id(model_id)
    if parsed.is_local:
        raise _bad(model_id, "'local/' models are not on the Hub")
    return parsed


def cache_folder_name(model_id: ModelId) -> str:
    """The Hugging Face cache folder of a Hub model: ``models--org--name``."""
    return "models--" + str(model_id).replace("/", "--")
