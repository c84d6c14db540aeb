"""One file from the Hub into ``blobs/<etag>``, resumable and verified.

For each file the engine

1. returns at once when ``blobs/<etag>`` is already there (blobs are only renamed in verified);
2. opens ``blobs/<etag>.incomplete`` (the name huggingface_hub uses, so any process finds it)
   and re-hashes what it holds (``partial.py``);
3. has the transfer (``transfer.py``) fetch the rest, with Range resume and retries, hashing
   while it writes;
4. compares sha256 (LFS) or the git blob sha1 (regular files); a mismatch deletes the
   partial and fetches once more, a second mismatch fails with ``CHECKSUM_MISMATCH``;
5. renames the partial to ``blobs/<etag>``.

Two jobs that share a blob never write it at once (a lock per blob). File work runs in the
engine's I/O threads; a fetch that is cancelled (pause, cancel, shutdown) lets the file call
under way finish, so a file is never closed or removed under a write.

Seams for tests: ``DownloadEngine.opener`` opens partial files for appending (replace it to
simulate a full disk); ``DownloadEngine.sleep`` waits between retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from manager.downloads.cache import RepoCache
from manager.downloads.file_state import FileState
from manager.downloads.locks import KeyedLocks
from manager.downloads.partial import Opener, PartialFile, open_for_append, write_error
from manager.downloads.plan import RemoteFile
from manager.downloads.schemas import FileStatus
from manager.downloads.transfer import Transfer
from manager.errors import HubResponseError
from manager.metrics import ManagerMetrics
from manager.settings import ManagerSettings

logger = logging.getLogger(__name__)

INTEGRITY_ATTEMPTS = 2


class DownloadEngine:
    """Fetches files of one repository commit into the cache; shared by all jobs."""

    def __init__(
        self,
        *,
        endpoint: str,
        token: str | None,
        stall_timeout_s: float,
        metrics: ManagerMetrics,
        retries: int,
        backoff_s: float,
        backoff_max_s: float,
        workers: int,
    ) -> None:
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download-io")
        self._transfer = Transfer(
            endpoint=endpoint,
            token=token,
            stall_timeout_s=stall_timeout_s,
            metrics=metrics,
            retries=retries,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            workers=workers,
            io=self._io,
        )
        self._blob_locks: KeyedLocks[Path] = KeyedLocks()
        self.opener: Opener = open_for_append

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        """How the transfers wait between retries."""
        return self._transfer.sleep

    @sleep.setter
    def sleep(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._transfer.sleep = sleep

    @classmethod
    def for_settings(cls, settings: ManagerSettings, metrics: ManagerMetrics) -> DownloadEngine:
        """The engine of a manager: as many workers as files may be in flight."""
        return cls(
            endpoint=settings.hub_endpoint,
            token=settings.hub_token(),
            stall_timeout_s=settings.stall_timeout_s,
            metrics=metrics,
            retries=settings.download_retries,
            backoff_s=settings.download_backoff_s,
            backoff_max_s=settings.download_backoff_max_s,
            workers=settings.max_concurrent_downloads * settings.max_files_per_download,
        )

    def close(self) -> None:
        self._transfer.stop()
        self._executor.shutdown(wait=True)
        self._transfer.close()

    def _submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking file work in the I/O pool. A thread cannot be stopped: on cancellation
        the call is left to finish before the cancellation goes on, so a file is never closed
        or removed under a write."""
        future = self._submit(fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    async def _open_partial(self, path: Path, file: RemoteFile) -> PartialFile:
        """Open the partial file in the I/O pool. Cancelled while it opens, the open still
        finishes (``_io``): close what it opened, or the file would be left open."""
        future = self._submit(PartialFile, path, file, self.opener)
        try:
            partial: PartialFile = await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            if not future.cancelled() and future.exception() is None:
                future.result().close()
            raise
        return partial

    async def fetch(self, repo: RepoCache, commit: str, state: FileState) -> None:
        """Make ``blobs/<etag>`` exist, verified. Raises ManagerError subclasses."""
        file = state.file
        async with self._blob_locks.hold(repo.blob(file)):
            if await self._io(repo.has_blob, file):
                state.bytes_done = file.size
                state.status = FileStatus.COMPLETED
                return
            await self._io(repo.prepare)
            for attempt in range(1, INTEGRITY_ATTEMPTS + 1):
                if await self._fetch_verified(
                    repo, commit, state, last=attempt == INTEGRITY_ATTEMPTS
                ):
                    state.status = FileStatus.COMPLETED
                    return
                self._metrics.download_retries.labels("checksum").inc()
                state.retries += 1
                logger.warning(
                    "checksum mismatch on %s/%s: fetching again", repo.repo_id, file.path
                )

    async def _fetch_verified(
        self, repo: RepoCache, commit: str, state: FileState, *, last: bool
    ) -> bool:
        """One pass: transfer the rest, verify, install. False on a mismatch with tries left."""
        file = state.file
        path = repo.partial(file)
        try:
            partial = await self._open_partial(path, file)
        except OSError as exc:
            raise write_error(exc, file, repo.repo_id) from exc
        try:
            state.bytes_done = partial.size
            state.status = FileStatus.DOWNLOADING
            while await self._io(partial.rehash_step):
                pass
            state.bytes_done = partial.size
            if partial.size < file.size:
                await self._transfer.fetch_missing(repo.repo_id, commit, state, partial)
            state.status = FileStatus.VERIFYING
            digest = partial.digest()
            expected = file.sha256 or file.blob_id
            ok = partial.size == file.size and digest == expected
        finally:
            await self._io(partial.close)
        if ok:
            await self._io(repo.install_blob, path, file)
            state.bytes_done = file.size
            return True
        await self._io(repo.remove_partial, file)
        state.bytes_done = 0
        if not last:
            return False
        state.status = FileStatus.FAILED
        raise HubResponseError(
            f"'{file.path}' of '{repo.repo_id}' failed verification twice: expected "
            f"{'sha256' if file.lfs else 'git sha1'} {expected}, got {digest}",
            code="CHECKSUM_MISMATCH",
            details={
                "model_id": repo.repo_id,
                "path": file.path,
                "expected": expected,
                "actual": digest,
                "size": file.size,
                "received": partial.size,
            },
            resolution_steps=[
                "The Hub (or a proxy in between) served corrupted bytes; nothing was kept.",
                "Retry later: POST /api/downloads/{id}/resume.",
            ],
        )
