"""Import a model folder or a ``.gguf`` file into the models directory as ``local/<name>``.

Blocking: run it in a thread. A folder needs ``config.json`` (a JSON object with a
``model_type``), safetensors weights and a tokenizer; a GGUF file (or a folder of them) needs
a valid header. Everything wrong is reported at once, as a 400 naming what is missing.

Files are hard-linked by default (no bytes duplicated; the source and the models directory
must share a file system) or copied. They are first assembled in a hidden staging folder
(``.import-<name>-<random>``), which the scan ignores, then renamed into place in one step,
so a model is never listed half-imported. A failed import leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from manager.errors import BadRequestError, ConflictError, InsufficientStorageError
from manager.library.formats import has_tokenizer, weight_files
from manager.library.gguf_header import InvalidGGUFError, read_gguf_header
from manager.library.paths import LOCAL_PREFIX, is_inside, valid_name, validate_local_name
from shared_schemas.library import ImportMode

STAGING_PREFIX = ".import-"
# A model folder holds tens of files, a large sharded one hundreds. Walking stops past this many
# entries, so a path such as ``/`` or a home folder is refused at once, not walked and linked.
MAX_IMPORT_ENTRIES = 10_000


@dataclass(frozen=True)
class ImportOutcome:
    model_id: str
    path: Path
    origin: str
    mode: ImportMode
    bytes: int


def _bad(message: str, code: str, **details: object) -> BadRequestError:
    return BadRequestError(message, code=code, param="path", details=dict(details))


def _default_name(source: Path) -> str:
    stem = source.stem if source.is_file() else source.name
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"-{2,}", "-", name)
    return name[:128] or "model"


def _source_files(source: Path) -> list[tuple[str, Path]]:
    """Files to bring in, as (relative path, path); hidden entries and symlinked folders are
    skipped, symlinked files are followed (a Hugging Face snapshot is made of them)."""
    if source.is_file():
        return [(source.name, source)]
    out = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(source):
        seen += len(dirnames) + len(filenames)
        if seen > MAX_IMPORT_ENTRIES:
            raise _bad(
                f"{source} holds more than {MAX_IMPORT_ENTRIES} files and folders: "
                "not a model folder",
                "not_a_model",
            )
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not os.path.islink(Path(dirpath) / d)
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                out.append((path.relative_to(source).as_posix(), path))
    return out


def _check_config(path: Path, problems: list[str]) -> None:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"config.json is not valid JSON ({exc})")
        return
    if not isinstance(config, dict):
        problems.append("config.json is not a JSON object")
    elif not isinstance(config.get("model_type"), str) or not config["model_type"]:
        problems.append("config.json has no model_type")


def _check_gguf(files: list[tuple[str, Path]]) -> None:
    for rel, path in files:
        try:
            read_gguf_header(path)
        except InvalidGGUFError as exc:
            raise _bad(str(exc), "invalid_gguf", file=rel) from exc


def validate_source(source: Path) -> list[tuple[str, Path]]:
    """The files to import; 400 saying everything that is missing or wrong otherwise."""
    if source.is_file():
        if not source.name.lower().endswith(".gguf"):
            raise _bad(
                f"{source.name}: a single file must be a .gguf model",
                "unsupported_file",
            )
        files = _source_files(source)
        _check_gguf(files)
        return files
    if not source.is_dir():
        raise _bad(f"{source} is neither a folder nor a file", "not_a_model")
    files = _source_files(source)
    names = [rel for rel, _ in files]
    kind, weights = weight_files(names)
    if kind == "gguf":
        _check_gguf([(rel, p) for rel, p in files if rel in weights])
        return files
    missing: list[str] = []
    problems: list[str] = []
    if "config.json" not in names:
        missing.append("config.json")
    else:
        _check_config(source / "config.json", problems)
    if kind == "pickle":
        raise _bad(
            "only pickle-based weights (.bin/.pt): they can run code when loaded; "
            "convert them to safetensors first",
            "unsafe_format",
            files=weights[:5],
        )
    if kind != "safetensors":
        missing.append("*.safetensors weights")
    if not has_tokenizer(names):
        missing.append("a tokenizer (tokenizer.json, tokenizer.model or tokenizer_config.json)")
    if missing or problems:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + problems
        raise _bad(
            f"{source.name} is not a model folder: {'; '.join(parts)}",
            "not_a_model",
            missing=missing,
            problems=problems,
        )
    return files


def _place(src: Path, dst: Path, mode: ImportMode) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        shutil.copyfile(src, dst)
        return
    try:
        os.link(os.path.realpath(src), dst)  # link the file, never a symlink to it
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise BadRequestError(
                f"cannot hard-link {src.name} into the models directory ({os.strerror(exc.errno)})",
                code="link_failed",
                param="mode",
                resolution_steps=[
                    "Import with mode 'copy', or keep the source on the same file system "
                    "as the models directory.",
                ],
            ) from exc
        raise


def import_model(
    source_text: str,
    name: str | None,
    mode: ImportMode,
    models_dir: Path,
    cache_dir: Path,
    reserve_bytes: int,
) -> ImportOutcome:
    source = Path(source_text).expanduser()
    if not source.is_absolute():
        raise _bad("path must be absolute", "invalid_path")
    if not source.exists():
        raise _bad(f"{source} does not exist", "path_not_found")
    source = Path(os.path.realpath(source))
    if is_inside(source, models_dir) or is_inside(source, cache_dir):
        raise _bad(f"{source} is already in the library", "already_in_library")
    name = validate_local_name(name) if name is not None else _default_name(source)
    if not valid_name(name):
        raise _bad(f"cannot make a name from {source.name!r}; give one", "invalid_name")
    try:
        files = validate_source(source)
        total = sum(p.stat().st_size for _, p in files)
    except OSError as exc:
        raise _bad(
            f"cannot read {exc.filename or source}: {exc.strerror or exc}", "unreadable_path"
        ) from exc

    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / name
    if target.exists() or target.is_symlink():
        raise ConflictError(
            f"{LOCAL_PREFIX}{name} already exists",
            code="model_exists",
            param="name",
            resolution_steps=["Choose another name, or delete the existing model first."],
        )
    if mode == "copy":
        free = shutil.disk_usage(models_dir).free
        if free < total + reserve_bytes:
            raise InsufficientStorageError(
                f"not enough free space to copy {total} bytes",
                details={"required_bytes": total + reserve_bytes, "available_bytes": free},
                resolution_steps=["Free some space, or import with mode 'link'."],
            )

    staging = models_dir / f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        for rel, path in files:
            _place(path, staging / rel, mode)
        if target.exists() or target.is_symlink():
            raise ConflictError(f"{LOCAL_PREFIX}{name} already exists", code="model_exists")
        try:
            os.rename(staging, target)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise ConflictError(
                    f"{LOCAL_PREFIX}{name} already exists", code="model_exists"
                ) from exc
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ImportOutcome(
        model_id=LOCAL_PREFIX + name, path=target, origin=str(source), mode=mode, bytes=total
    )
