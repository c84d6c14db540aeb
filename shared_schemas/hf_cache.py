"""The disk contract: the Hugging Face hub cache layout, and the one containment check.

Both processes (and the dev tools that make test models) read models from the same folders,
so the layout is written down once, here, as huggingface_hub reads and writes it::

    <cache>/<repo folder>/               ModelId.folder_name of a Hub id
        blobs/<etag>                     a file's contents (sha256 for LFS, git sha1 otherwise)
        blobs/<etag>.incomplete          a partial download
        snapshots/<commit>/<path>        relative symlink -> ../../blobs/<etag>
        refs/<revision>                  the commit a branch or tag points to

The current snapshot of a repo has one rule (:func:`choose_snapshot`, pure): the commit
``refs/main`` names, when that file exists (a ref that is not a commit folder's name leads
nowhere); else the newest snapshot folder by modification time. The manager's library, its
``/api/models/config`` and the inference server all ask :func:`current_snapshot`.

:func:`is_inside` is the one "stays inside its root" check: a path, symlinks resolved, is the
root or below it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from shared_schemas.model_ids import ModelId, cache_folder_name

BLOBS = "blobs"
SNAPSHOTS = "snapshots"
REFS = "refs"
MAIN = "main"
PARTIAL_SUFFIX = ".incomplete"
# A commit folder's name as a ref may hold it: no separators, never "." or "..".
_COMMIT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")


def repo_dir(cache_dir: Path, model_id: ModelId | str) -> Path:
    """The repo folder of a Hub id in ``cache_dir`` (a string id is trusted: it was checked
    where it came in)."""
    return cache_dir / cache_folder_name(str(model_id))


def blobs_dir(repo: Path) -> Path:
    return repo / BLOBS


def blob_path(repo: Path, etag: str) -> Path:
    return repo / BLOBS / etag


def partial_path(repo: Path, etag: str) -> Path:
    """Where a download of ``etag`` grows (the name huggingface_hub uses too)."""
    return repo / BLOBS / f"{etag}{PARTIAL_SUFFIX}"


def is_partial(name: str) -> bool:
    return name.endswith(PARTIAL_SUFFIX)


def snapshots_dir(repo: Path) -> Path:
    return repo / SNAPSHOTS


def snapshot_path(repo: Path, commit: str) -> Path:
    return repo / SNAPSHOTS / commit


def ref_path(repo: Path, revision: str = MAIN) -> Path:
    return repo / REFS / revision


def is_commit_name(name: str) -> bool:
    """Whether ``name`` can be a snapshot folder's name (so a ref cannot lead elsewhere)."""
    return bool(_COMMIT_NAME.fullmatch(name)) and ".." not in name


def ref_target(ref: str) -> str | None:
    """The snapshot a ref's text names, or None when it cannot name one. Pure."""
    commit = ref.strip()
    return commit if is_commit_name(commit) else None


def newest_snapshot(snapshots: Iterable[tuple[str, float]]) -> str | None:
    """The newest snapshot of ``(name, modification time)`` pairs (ties: the greatest name),
    or None when there is none. Pure."""
    return max(snapshots, key=lambda item: (item[1], item[0]), default=(None, 0.0))[0]


def choose_snapshot(ref: str | None, snapshots: Iterable[tuple[str, float]]) -> str | None:
    """The current snapshot's name: the rule :func:`current_snapshot` applies to the disk.
    Pure.

    ``ref`` is what ``refs/main`` holds (None when there is no such file); ``snapshots`` are
    the snapshot folders as ``(name, modification time)``. A ref names the snapshot, if that
    folder exists; with no ref, the newest folder wins.
    """
    folders = dict(snapshots)
    if ref is not None:
        target = ref_target(ref)
        return target if target in folders else None
    return newest_snapshot(folders.items())


def read_ref(repo: Path, revision: str = MAIN) -> str | None:
    """The text of ``refs/<revision>``; None when there is no readable ref."""
    try:
        return ref_path(repo, revision).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def list_snapshots(repo: Path) -> list[tuple[str, float]]:
    """The snapshot folders of ``repo`` with their modification times (empty when none)."""
    found: list[tuple[str, float]] = []
    try:
        with os.scandir(snapshots_dir(repo)) as entries:
            for entry in entries:
                try:
                    if entry.is_dir():
                        found.append((entry.name, entry.stat().st_mtime))
                except OSError:
                    continue
    except OSError:
        return []
    return found


def current_snapshot(repo: Path) -> Path | None:
    """The folder of the repo's current snapshot (the rule of :func:`choose_snapshot`), or
    None. With a ref, only the folder it names is looked at."""
    try:
        ref = read_ref(repo)
        if ref is None:
            name = newest_snapshot(list_snapshots(repo))
            return snapshot_path(repo, name) if name is not None else None
        target = ref_target(ref)
        if target is None:
            return None
        path = snapshot_path(repo, target)
        return path if path.is_dir() else None
    except OSError:  # e.g. a name longer than the file system allows: not on disk
        return None


def is_inside(path: Path | str, root: Path | str) -> bool:
    """Whether ``path``, with every symlink resolved, is ``root`` or below it."""
    try:
        real = os.path.realpath(path)
        real_root = os.path.realpath(root)
    except (OSError, ValueError):
        return False
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
