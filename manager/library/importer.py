"""Import a model folder or a ``.gguf`` file into the models directory as ``local/<name>``.

Blocking: run it in a thread. A folder needs ``config.json`` (a JSON object with a
``model_type``), safetensors weights and a tokenizer; a GGUF file (or a folder of them) needs
a valid header. Everything wrong is reported at once, as a 400 naming what is missing.

Only regular files are brought in, and only those whose real path (symlinks resolved) stays
inside the source folder, or, for a Hugging Face snapshot (``snapshots/<commit>`` of a
cache repo), inside its repo's ``blobs/`` (and the cache's shared blob store, when it has
one). A symlink to anything else (``/etc/shadow``, ``/proc/self/environ``, another user's
file), a device or pipe, a symlinked folder and a hidden entry are skipped and listed in the
answer; a link pointing out is never opened, so the answer says nothing about its target.

Files are hard-linked by default (no bytes duplicated; the source and the models directory
must share a file system) or copied with the source's permission bits. They are first
assembled in a hidden staging folder (``.import-<name>-<random>``), which the scan ignores,
then renamed into place in one step, so a model is never listed half-imported. A failed
import leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from manager.errors import BadRequestError, ConflictError, InsufficientStorageError
from manager.library.formats import has_tokenizer, weight_files
from manager.library.gguf_header import InvalidGGUFError, read_gguf_header
from manager.library.paths import LOCAL_PREFIX, is_inside, valid_name, validate_local_name
from manager.library.schemas import ImportMode, SkippedFile, SkipReason

STAGING_PREFIX = ".import-"
# A model folder holds tens of files, a large sharded one hundreds. Walking stops past this many
# entries, so a path such as ``/`` or a home folder is refused at once, not walked and linked.
MAX_IMPORT_ENTRIES = 10_000
# The marker huggingface_hub writes in a cache's shared blob store (``<cache>/blobs/``).
SHARED_BLOBS_MARKER = ".huggingface-shared-blobs"


@dataclass(frozen=True)
class SourceListing:
    """What an import brings in, as (relative path, real path), and what it leaves out."""

    files: list[tuple[str, Path]]
    skipped: list[SkippedFile]


@dataclass(frozen=True)
class ImportOutcome:
    model_id: str
    path: Path
    origin: str
    mode: ImportMode
    bytes: int
    skipped: tuple[SkippedFile, ...] = ()


def _bad(message: str, code: str, **details: object) -> BadRequestError:
    return BadRequestError(message, code=code, param="path", details=dict(details))


def _default_name(source: Path) -> str:
    stem = source.stem if source.is_file() else source.name
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"-{2,}", "-", name)
    return name[:128] or "model"


def _allowed_roots(source: Path) -> list[Path]:
    """Where the real path of an imported file may lie: the folder itself, and for a Hugging
    Face snapshot its repo's blobs (and the cache's shared blob store, if marked as one)."""
    roots = [source]
    if source.parent.name == "snapshots":
        repo = source.parent.parent
        roots.append(repo / "blobs")
        store = repo.parent / "blobs"
        if (store / SHARED_BLOBS_MARKER).is_file():
            roots.append(store)
    return roots


def _classify(path: Path, roots: list[Path]) -> tuple[Path | None, SkipReason | None]:
    """The real path of a file to import, or why it is skipped. A link is resolved without
    being opened, and one pointing out is refused before its target is looked at."""
    real = Path(os.path.realpath(path))
    if not any(is_inside(real, root) for root in roots):
        return None, "link_outside_source"
    try:
        regular = stat.S_ISREG(os.lstat(real).st_mode)
    except FileNotFoundError:
        regular = False
    return (real, None) if regular else (None, "not_a_regular_file")


def _source_files(source: Path) -> SourceListing:
    """Files to bring in, and the entries left out: hidden ones, symlinked folders, symlinks
    whose real path leaves the allowed roots, and anything that is not a regular file.
    Symlinked files inside the roots are followed (a Hugging Face snapshot is made of them)."""
    if source.is_file():
        return SourceListing([(source.name, source)], [])
    roots = _allowed_roots(source)
    files: list[tuple[str, Path]] = []
    skipped: list[SkippedFile] = []

    def skip(path: Path, reason: SkipReason) -> None:
        skipped.append(SkippedFile(path=path.relative_to(source).as_posix(), reason=reason))

    seen = 0
    for dirpath, dirnames, filenames in os.walk(source):
        seen += len(dirnames) + len(filenames)
        if seen > MAX_IMPORT_ENTRIES:
            raise _bad(
                f"{source} holds more than {MAX_IMPORT_ENTRIES} files and folders: "
                "not a model folder",
                "not_a_model",
            )
        kept_dirs = []
        for name in sorted(dirnames):
            folder = Path(dirpath) / name
            if name.startswith("."):
                skip(folder, "hidden")
            elif folder.is_symlink():
                skip(folder, "linked_folder")
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith("."):
                skip(path, "hidden")
                continue
            real, reason = _classify(path, roots)
            if real is None:
                assert reason is not None
                skip(path, reason)
            else:
                files.append((path.relative_to(source).as_posix(), real))
    return SourceListing(files, skipped)


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


def validate_source(source: Path) -> SourceListing:
    """The files to import and those left out; 400 saying everything that is missing or
    wrong otherwise."""
    if source.is_file():
        if not source.name.lower().endswith(".gguf"):
            raise _bad(
                f"{source.name}: a single file must be a .gguf model",
                "unsupported_file",
            )
        listing = _source_files(source)
        _check_gguf(listing.files)
        return listing
    if not source.is_dir():
        raise _bad(f"{source} is neither a folder nor a file", "not_a_model")
    listing = _source_files(source)
    files = dict(listing.files)
    names = list(files)
    kind, weights = weight_files(names)
    if kind == "gguf":
        _check_gguf([(rel, files[rel]) for rel in weights])
        return listing
    missing: list[str] = []
    problems: list[str] = []
    if "config.json" not in names:
        missing.append("config.json")
    else:
        _check_config(files["config.json"], problems)
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
    return listing


def _place(src: Path, dst: Path, mode: ImportMode) -> None:
    """Bring in ``src``, a real path (no symlink in it), keeping its read/write/execute bits."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        shutil.copyfile(src, dst, follow_symlinks=False)
        os.chmod(dst, stat.S_IMODE(os.stat(src).st_mode) & 0o777)
        return
    try:
        os.link(src, dst, follow_symlinks=False)
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
        listing = validate_source(source)
        files = listing.files
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
        model_id=LOCAL_PREFIX + name,
        path=target,
        origin=str(source),
        mode=mode,
        bytes=total,
        skipped=tuple(listing.skipped),
    )
