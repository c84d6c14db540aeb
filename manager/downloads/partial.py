"""A partial file, ``blobs/<etag>.incomplete``: appended to, hashed as written.

The name is huggingface_hub's, so whichever process comes next continues it. What a partial
held before is hashed again (in slices) before more is appended; a partial longer than its
file starts over. The hash is sha256 of the content for LFS files and git's blob sha1 for
regular ones. A full disk (``ENOSPC``, ``EDQUOT``) while writing is a 507
``INSUFFICIENT_STORAGE`` that keeps the partial (:func:`write_error`). Every method blocks:
the engine runs them in its I/O threads.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from manager.downloads.plan import RemoteFile
from manager.errors import InsufficientStorageError

REHASH_CHUNK = 16 << 20

Opener = Callable[[Path], IO[bytes]]


def open_for_append(path: Path) -> IO[bytes]:
    return path.open("ab")


def new_hasher(file: RemoteFile) -> Any:
    """sha256 of the content for LFS files; git's ``sha1("blob <size>\\0" + content)`` else."""
    if file.lfs:
        return hashlib.sha256()
    hasher = hashlib.sha1()
    hasher.update(b"blob %d\0" % file.size)
    return hasher


class PartialFile:
    """``blobs/<etag>.incomplete``: appended to, hashed as written. Methods block (threads)."""

    def __init__(self, path: Path, file: RemoteFile, opener: Opener) -> None:
        self.path = path
        self.file = file
        try:
            self.size = path.stat().st_size
        except FileNotFoundError:
            self.size = 0
        self._fh = opener(path)
        self.hasher = new_hasher(file)
        self.hashed = 0
        if self.size > file.size:
            self.reset()

    def rehash_step(self) -> bool:
        """Hash the next slice of what was on disk before; False once all of it is hashed."""
        if self.hashed >= self.size:
            return False
        with self.path.open("rb") as fh:
            fh.seek(self.hashed)
            data = fh.read(min(REHASH_CHUNK, self.size - self.hashed))
        if not data:  # the file shrank under us: start over
            self.reset()
            return False
        self.hasher.update(data)
        self.hashed += len(data)
        return self.hashed < self.size

    def write(self, chunk: bytes | bytearray) -> None:
        self._fh.write(chunk)
        self.hasher.update(chunk)
        self.size += len(chunk)
        self.hashed += len(chunk)

    def reset(self) -> None:
        self._fh.flush()
        self._fh.truncate(0)
        self.size = 0
        self.hashed = 0
        self.hasher = new_hasher(self.file)

    def digest(self) -> str:
        digest: str = self.hasher.hexdigest()
        return digest

    def close(self) -> None:
        self._fh.close()


def _storage_error(exc: OSError, file: RemoteFile, model_id: str) -> InsufficientStorageError:
    return InsufficientStorageError(
        f"the disk filled up while writing '{file.path}' of '{model_id}'",
        details={"model_id": model_id, "path": file.path, "required_space": file.size},
        resolution_steps=[
            "Free disk space (GET /api/storage/stats, POST /api/storage/cleanup).",
            "Then resume the download: POST /api/downloads/{id}/resume (partial files are kept).",
        ],
    )


def write_error(exc: OSError, file: RemoteFile, model_id: str) -> Exception:
    """What a failed write of ``file`` raises: 507 for a full disk, else the error itself."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _storage_error(exc, file, model_id)
    return exc
