"""Writing one repository into the Hugging Face hub cache, as huggingface_hub would.

The layout is :mod:`shared_schemas.hf_cache`'s (blobs named by etag, partials beside them and
continued by whichever process comes next, snapshots of relative links, refs written last);
downloads add one folder of their own to the repo folder:

        .staging/<commit>.<random>/  a snapshot being linked (see ``link_snapshot``)

A snapshot appears whole or not at all: its links are made in a staging folder as deep in the
repository folder as ``snapshots/<commit>`` (so the same relative link targets serve), which is
renamed into place once every link is there. huggingface_hub and the library read only
``blobs``, ``snapshots`` and ``refs``, so a staging folder is never listed.

Only blocking file-system calls live here; callers run the slow ones in a thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from manager.downloads.plan import RemoteFile
from shared_schemas.hf_cache import (
    BLOBS,
    REFS,
    SNAPSHOTS,
    blob_path,
    blobs_dir,
    partial_path,
    ref_path,
    repo_dir,
    snapshot_path,
    snapshots_dir,
)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
STAGING = ".staging"


def is_commit(revision: str) -> bool:
    return bool(_COMMIT.match(revision))


class RepoCache:
    """Paths and link/ref writing for one repository in the cache."""

    def __init__(self, cache_dir: Path, repo_id: str) -> None:
        self.cache_dir = cache_dir
        self.repo_id = repo_id
        self.folder = repo_dir(cache_dir, repo_id)
        self.blobs = blobs_dir(self.folder)

    def blob(self, file: RemoteFile) -> Path:
        return blob_path(self.folder, file.etag)

    def partial(self, file: RemoteFile) -> Path:
        return partial_path(self.folder, file.etag)

    def snapshot(self, commit: str) -> Path:
        return snapshot_path(self.folder, commit)

    def pointer(self, commit: str, file: RemoteFile) -> Path:
        return self.snapshot(commit) / file.path

    def ref(self, revision: str) -> Path:
        return ref_path(self.folder, revision)

    def has_blob(self, file: RemoteFile) -> bool:
        """A finished blob of the right size (a blob is only ever renamed in once verified)."""
        try:
            return self.blob(file).stat().st_size == file.size
        except OSError:
            return False

    def partial_size(self, file: RemoteFile) -> int:
        try:
            return self.partial(file).stat().st_size
        except OSError:
            return 0

    def bytes_on_disk(self, file: RemoteFile) -> int:
        """What is already here for ``file``: all of it, a partial prefix, or nothing."""
        if self.has_blob(file):
            return file.size
        return min(self.partial_size(file), file.size)

    def is_linked(self, commit: str, file: RemoteFile) -> bool:
        """``snapshots/<commit>/<path>`` resolves to a file of the right size."""
        try:
            return self.pointer(commit, file).stat().st_size == file.size
        except OSError:
            return False

    def is_complete(self, commit: str, files: Iterable[RemoteFile]) -> bool:
        """Every file is linked in the snapshot with its full size."""
        return all(self.is_linked(commit, file) for file in files)

    def prepare(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)

    def install_blob(self, partial: Path, file: RemoteFile) -> None:
        """Move a verified partial into place as ``blobs/<etag>`` with the cache's permissions."""
        blob = self.blob(file)
        with contextlib.suppress(OSError):
            mode = self.blobs.stat().st_mode
            # Files get the folder's read/write bits, never its execute bits.
            os.chmod(partial, stat.S_IMODE(mode) & 0o666)
        os.replace(partial, blob)

    @property
    def staging(self) -> Path:
        return self.folder / STAGING

    def link_snapshot(self, commit: str, files: Sequence[RemoteFile], revision: str) -> None:
        """Link every file into ``snapshots/<commit>/``, then write ``refs/<revision>``: all of
        it or none of it.

        The staging folder gets the snapshot's current entries (an earlier download of the
        same commit with other files) and the new links, and replaces the snapshot in two
        renames. Any failure (a name the file system refuses, a folder where a file belongs,
        a full disk) removes the staging folder and raises ``OSError``: the snapshot and the
        refs are as they were. Blobs are never touched here.
        """
        snapshot = self.snapshot(commit)
        self._clear_staging(commit)
        staging = self.staging / f"{commit}.{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        existed = snapshot.is_dir()
        try:
            if existed:
                _copy_tree(snapshot, staging)
            for file in files:
                self._link_into(staging, commit, file)
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            if existed:
                old = staging.with_name(staging.name + ".old")
                os.rename(snapshot, old)
                try:
                    os.rename(staging, snapshot)
                except OSError:
                    os.rename(old, snapshot)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(staging, snapshot)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.staging.rmdir()
        try:
            self.write_ref(revision, commit)
        except OSError:
            if not existed:  # nothing half-made stays: the snapshot goes with its ref
                shutil.rmtree(snapshot, ignore_errors=True)
            raise

    def _link_into(self, staging: Path, commit: str, file: RemoteFile) -> None:
        """``<staging>/<path>`` -> the blob, relative to where the snapshot will be."""
        pointer = staging / file.path
        pointer.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(self.blob(file), self.pointer(commit, file).parent)
        if pointer.is_symlink() or pointer.is_file():
            pointer.unlink()  # an earlier link of the same path: the new one wins
        os.symlink(target, pointer)

    def _clear_staging(self, commit: str) -> None:
        """Remove what a process that stopped while linking ``commit`` left behind (one
        process links a commit at a time: jobs for one commit are one job)."""
        with contextlib.suppress(OSError), os.scandir(self.staging) as entries:
            for entry in list(entries):
                if entry.name.startswith(f"{commit}."):
                    shutil.rmtree(entry.path, ignore_errors=True)

    def write_ref(self, revision: str, commit: str) -> None:
        """``refs/<revision>`` = commit, atomically; nothing for a revision that is a commit."""
        if is_commit(revision) and revision == commit:
            return
        ref = self.ref(revision)
        try:
            if ref.read_text() == commit:
                return
        except OSError:
            pass
        ref.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref.with_name(f".{ref.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(commit)
        os.replace(tmp, ref)

    def referenced_blobs(self) -> set[str]:
        """Blob names some snapshot links to."""
        names: set[str] = set()
        snapshots = snapshots_dir(self.folder)
        if not snapshots.is_dir():
            return names
        for root, _dirs, files in os.walk(snapshots):
            for name in files:
                path = Path(root) / name
                with contextlib.suppress(OSError):
                    if path.is_symlink():
                        names.add(Path(os.readlink(path)).name)
        return names

    def remove_partial(self, file: RemoteFile) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.partial(file).unlink()

    def remove_blob(self, file: RemoteFile) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.blob(file).unlink()

    def discard(self, files: Iterable[RemoteFile], keep: set[str]) -> None:
        """Remove the partials of ``files`` and their blobs that no snapshot links to
        (fetched, never linked), except the etags in ``keep``; then the empty folders."""
        linked = self.referenced_blobs()
        for file in files:
            if file.etag in keep:
                continue
            self.remove_partial(file)
            if file.etag not in linked:
                self.remove_blob(file)
        self.prune_empty()

    def prune_empty(self) -> None:
        """Remove the repository folder's empty sub-folders, and the folder if nothing is left."""
        for sub in (BLOBS, SNAPSHOTS, REFS, STAGING):
            with contextlib.suppress(OSError):
                (self.folder / sub).rmdir()
        with contextlib.suppress(OSError):
            self.folder.rmdir()


def _copy_tree(source: Path, dest: Path) -> None:
    """Recreate ``source``'s entries under ``dest`` without copying bytes: links as links
    (same target text), files as hard links (a copy where that fails), folders as folders."""
    for root, dirs, names in os.walk(source):
        rel = Path(root).relative_to(source)
        for name in dirs + names:
            src, dst = Path(root) / name, dest / rel / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            elif src.is_dir():
                dst.mkdir()
            else:
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)
