"""Model ids: the one grammar both processes read, and the patterns derived from it. Pure.

An id is a Hub repo id, ``org/name`` or a bare ``name`` (the Hub's oldest models, ``gpt2``),
or ``local/<name>``: a folder imported into the models directory. Each part

- starts and ends with a letter or digit;
- holds only letters, digits, ``-``, ``_`` and ``.``, never ``--`` or ``..`` (the Hub's own
  rules: ``--`` separates the parts of a cache folder name, ``..`` climbs out of a folder);
- is at most :data:`MAX_PART` characters (:data:`MAX_LOCAL_NAME` for an imported name).

:meth:`ModelId.parse` checks an id and says why it is refused (:class:`InvalidModelId`, which
each process answers with its own 400; :data:`ModelIdStr` is the pydantic field that calls
it). The patterns below say exactly the same for OpenAPI, with look-aheads;
:data:`PART_PATTERN` (one part, its length left to ``max_length``) has none and runs in
pydantic's Rust engine.

A Hub id's folder in the Hugging Face cache is ``models--org--name``
(:attr:`ModelId.folder_name`, read back by :meth:`ModelId.from_folder_name`); an imported
model's folder is its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

LOCAL_NAMESPACE = "local"
LOCAL_PREFIX = LOCAL_NAMESPACE + "/"
MAX_PART = 96
MAX_LOCAL_NAME = 128
MAX_ID_LENGTH = 2 * MAX_PART + 1
_FOLDER_PREFIX = "models--"
_FOLDER_SEPARATOR = "--"

# A part, without look-arounds (pydantic's Rust engine has none): a letter or digit, then runs
# of letters, digits and ``_`` joined by separators made of ``.`` and ``-`` that never repeat
# a character (``.-.`` is one separator, ``..`` and ``--`` are none), ending with a letter or
# digit. Its length is left to ``max_length``.
_EDGE = "[A-Za-z0-9]"
_INNER = "[A-Za-z0-9_]"
_SEPARATOR = r"(?:\.(?:-\.)*-?|-(?:\.-)*\.?)"
PART_PATTERN = rf"{_EDGE}(?:(?:{_SEPARATOR}?{_INNER})*{_SEPARATOR}?{_EDGE})?"


def _sized_part(max_length: int) -> str:
    """A part of at most ``max_length`` characters; the ``..`` / ``--`` rule is ``_NO_RUNS``."""
    return rf"{_EDGE}(?:[A-Za-z0-9._-]{{0,{max_length - 2}}}{_EDGE})?"


# The whole-id patterns, for OpenAPI (ECMA regular expressions: ``$`` is the end of the text;
# Python's ``$`` also matches before a final newline, so Python code calls the parser):
# look-aheads refuse ``..`` and ``--`` anywhere.
_NO_RUNS = r"(?!.*(?:\.\.|--))"
_END = "$"
_HUB_PART = _sized_part(MAX_PART)
#: Any id: ``name``, ``org/name`` or ``local/<name>``.
MODEL_ID_PATTERN = (
    rf"^{_NO_RUNS}(?:{LOCAL_PREFIX}{_sized_part(MAX_LOCAL_NAME)}|{_HUB_PART}(?:/{_HUB_PART})?)"
    + _END
)
#: A Hub repo with its namespace, ``org/name`` (what a download names).
HUB_REPO_PATTERN = rf"^(?!{LOCAL_PREFIX}){_NO_RUNS}{_HUB_PART}/{_HUB_PART}{_END}"
#: A Hub id (``local/`` refused: imported models are not on the Hub).
HUB_ID_PATTERN = rf"^(?!{LOCAL_PREFIX}){MODEL_ID_PATTERN[1:]}"
#: The name of an imported model (``local/<name>``).
LOCAL_NAME_PATTERN = rf"^{_NO_RUNS}{_sized_part(MAX_LOCAL_NAME)}{_END}"

_PART = re.compile(PART_PATTERN)
_PART_CHARACTERS = re.compile(r"[A-Za-z0-9._-]+")


class InvalidModelId(ValueError):
    """An id the grammar refuses; ``reason`` says why in a few words."""

    def __init__(self, model_id: str, reason: str) -> None:
        shown = model_id if len(model_id) <= 120 else model_id[:117] + "..."
        super().__init__(f"invalid model id {shown!r}: {reason}")
        self.shown = shown
        self.reason = reason


def part_problem(part: str, max_length: int = MAX_PART) -> str | None:
    """Why ``part`` cannot be one part of an id, or None when it can."""
    if not part:
        return "empty part"
    if len(part) > max_length:
        return f"a part is longer than {max_length} characters"
    if ".." in part or "--" in part:
        return "'..' and '--' are not allowed"
    if not _PART.fullmatch(part):
        return (
            "only letters, digits, '-', '_' and '.' are allowed, "
            "starting and ending with a letter or digit"
        )
    return None


def is_local_name(name: str) -> bool:
    """Whether ``local/<name>`` is an id (the name of an imported model)."""
    return part_problem(name, MAX_LOCAL_NAME) is None


@dataclass(frozen=True)
class ModelId:
    """A checked id: ``namespace`` is None for a bare Hub name such as ``gpt2``."""

    namespace: str | None
    name: str

    @classmethod
    def parse(cls, model_id: str) -> ModelId:
        """Check ``model_id`` and split it; :class:`InvalidModelId` when it is not an id."""
        if not model_id:
            raise InvalidModelId(model_id, "empty")
        if len(model_id) > MAX_ID_LENGTH:
            raise InvalidModelId(model_id, f"longer than {MAX_ID_LENGTH} characters")
        parts = model_id.split("/")
        if len(parts) > 2:
            raise InvalidModelId(model_id, "expected 'name', 'org/name' or 'local/<name>'")
        namespace, name = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        problem = part_problem(namespace) if namespace is not None else None
        if problem is None:
            limit = MAX_LOCAL_NAME if namespace == LOCAL_NAMESPACE else MAX_PART
            problem = part_problem(name, limit)
        if problem is not None:
            raise InvalidModelId(model_id, problem)
        return cls(namespace, name)

    @classmethod
    def local(cls, name: str) -> ModelId:
        """``local/<name>``; :class:`InvalidModelId` when ``name`` cannot be one."""
        problem = part_problem(name, MAX_LOCAL_NAME)
        if problem is not None:
            raise InvalidModelId(LOCAL_PREFIX + name, problem)
        return cls(LOCAL_NAMESPACE, name)

    @classmethod
    def from_folder_name(cls, folder: str) -> ModelId | None:
        """``models--org--name`` → ``org/name``; None for anything that is not a Hub model's
        cache folder (another kind of repo, a name no id reads back to, ``local``)."""
        if not folder.startswith(_FOLDER_PREFIX):
            return None
        raw = folder[len(_FOLDER_PREFIX) :].replace(_FOLDER_SEPARATOR, "/", 1)
        try:
            model_id = cls.parse(raw)
        except InvalidModelId:
            return None
        return None if model_id.is_local else model_id

    @property
    def is_local(self) -> bool:
        return self.namespace == LOCAL_NAMESPACE

    @property
    def folder_name(self) -> str:
        """The model's folder: ``models--org--name`` in the cache, ``<name>`` for an import."""
        return self.name if self.is_local else cache_folder_name(str(self))

    def __str__(self) -> str:
        return self.name if self.namespace is None else f"{self.namespace}/{self.name}"


def is_cache_folder_name(folder: str) -> bool:
    """Whether ``folder`` is named like a model's cache folder (cheap; the id is not checked:
    :meth:`ModelId.from_folder_name` does that)."""
    return folder.startswith(_FOLDER_PREFIX)


def cache_folder_name(repo_id: str) -> str:
    """``org/name`` → ``models--org--name`` for an id already checked (or one the caller
    trusts, such as a job's stored id)."""
    return _FOLDER_PREFIX + repo_id.replace("/", _FOLDER_SEPARATOR)


def _checked(model_id: str) -> str:
    ModelId.parse(model_id)
    return model_id


#: A model id in a request body: the parser decides, OpenAPI shows the pattern.
ModelIdStr = Annotated[
    str,
    AfterValidator(_checked),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": MODEL_ID_PATTERN}
    ),
]
