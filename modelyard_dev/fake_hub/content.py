"""File content for the fake Hub: bytes held in memory, or bytes generated on the fly.

A generated file is a sequence of blocks of ``BLOCK_SIZE`` bytes (a prime, so it lines up with
no common chunk size). Every block is the same seeded random bytes except its first 8 bytes,
which hold the block's index: a client that writes a chunk at the wrong offset, even a whole
number of blocks away, ends up with a different sha256. Nothing but the seed is stored, so a
file of any size costs no memory; its sha256 is computed once, by streaming.
"""

from __future__ import annotations

import functools
import hashlib
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from modelyard_dev.tiny_model import LFS_SUFFIXES, git_blob_sha1

BLOCK_SIZE = 65_521
CHUNK_SIZE = 1 << 20
_HASH_CHUNK = 8 << 20


@functools.lru_cache(maxsize=16)
def _base_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(BLOCK_SIZE)


def generated_bytes(seed: int, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the generated content for ``seed``."""
    base = memoryview(_base_block(seed))
    out = bytearray()
    pos = start
    while pos < end:
        index, offset = divmod(pos, BLOCK_SIZE)
        stop = min(BLOCK_SIZE, end - index * BLOCK_SIZE)
        if offset < 8:
            out += struct.pack(">Q", index)[offset : min(8, stop)]
        if stop > 8:
            out += base[max(offset, 8) : stop]
        pos = index * BLOCK_SIZE + stop
    return bytes(out)


@functools.lru_cache(maxsize=64)
def generated_sha256(size: int, seed: int) -> str:
    """The sha256 of a generated file (cached: a 500 MB file takes about a second)."""
    digest = hashlib.sha256()
    for start in range(0, size, _HASH_CHUNK):
        digest.update(generated_bytes(seed, start, min(size, start + _HASH_CHUNK)))
    return digest.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file that git stores in place of an LFS file."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def is_lfs_path(path: str) -> bool:
    """Whether the Hub stores a file with this name in LFS whatever its size (weights)."""
    return path.endswith(LFS_SUFFIXES)


@dataclass(frozen=True)
class FakeFile:
    """One file of a commit.

    ``data`` is the content, or ``None`` for generated content (``seed``). ``blob_id`` is the
    git object id of what git stores for the path: the file itself for a regular file, its LFS
    pointer for an LFS file (as the Hub reports it in ``oid`` / ``blobId``). ``etag`` is what
    the Hub sends as ``ETag`` and what the Hugging Face cache names the blob after.
    """

    path: str
    data: bytes | None
    size: int
    lfs: bool
    sha256: str
    blob_id: str
    seed: int | None = None

    @classmethod
    def from_bytes(cls, path: str, data: bytes, *, lfs_threshold: int) -> FakeFile:
        lfs = len(data) >= lfs_threshold or is_lfs_path(path)
        sha256 = hashlib.sha256(data).hexdigest()
        blob = lfs_pointer(sha256, len(data)) if lfs else data
        return cls(path, bytes(data), len(data), lfs, sha256, git_blob_sha1(blob))

    @classmethod
    def generated(cls, path: str, size: int, seed: int = 0) -> FakeFile:
        if size < 0:
            raise ValueError(f"size must be >= 0, not {size}")
        sha256 = generated_sha256(size, seed)
        blob_id = git_blob_sha1(lfs_pointer(sha256, size))
        return cls(path, None, size, True, sha256, blob_id, seed)

    @property
    def etag(self) -> str:
        """sha256 for LFS files, the git blob sha1 otherwise (unquoted)."""
        return self.sha256 if self.lfs else self.blob_id

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of the content (``end`` defaults to the size)."""
        end = self.size if end is None else min(end, self.size)
        if self.data is not None:
            return self.data[start:end]
        return generated_bytes(self.seed or 0, start, end)

    def iter_chunks(
        self, start: int = 0, end: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        """The content ``[start, end)`` in chunks of at most ``chunk_size`` bytes."""
        end = self.size if end is None else min(end, self.size)
        for pos in range(start, end, max(1, chunk_size)):
            yield self.read(pos, min(end, pos + chunk_size))
