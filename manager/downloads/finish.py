"""How a job's run ends: its snapshot linked, all or nothing, or the error it records.

:func:`link_files` runs in a thread once every blob is verified; it maps what the file system
refuses to the manager's errors. :func:`first_error` picks the telling failure out of a
task group's, and :func:`error_body` is what a failed job keeps in its row.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any

from manager.downloads.cache import RepoCache
from manager.downloads.plan import RemoteFile
from manager.errors import HubResponseError, InsufficientStorageError, ManagerError
from shared_schemas.errors import ErrorBody

logger = logging.getLogger(__name__)


def link_files(repo: RepoCache, commit: str, files: Sequence[RemoteFile], revision: str) -> None:
    """Link every verified blob into ``snapshots/<commit>/`` and write the ref, all or
    nothing (``RepoCache.link_snapshot``): a job that fails here leaves no model listed.
    Blocking."""
    for file in files:
        if not repo.has_blob(file):
            raise HubResponseError(
                f"'{file.path}' disappeared from the cache before it was linked",
                details={"model_id": repo.repo_id, "path": file.path},
                resolution_steps=["Resume the download."],
            )
    try:
        repo.link_snapshot(commit, files, revision)
    except OSError as exc:
        raise _link_error(exc, repo.repo_id, commit) from exc


def _link_error(exc: OSError, model_id: str, commit: str) -> ManagerError:
    """Why the snapshot could not be made (nothing of it was kept)."""
    details = {"model_id": model_id, "commit": commit, "reason": str(exc)}
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorageError(
            f"the disk filled up while linking '{model_id}' into the cache",
            details=details,
            resolution_steps=[
                "Free disk space, then resume the download (the verified files are kept).",
            ],
        )
    return ManagerError(
        f"'{model_id}' could not be linked into the cache: {exc.strerror or exc}"
        + (f" ({exc.filename})" if exc.filename else ""),
        code="cache_write_failed",
        details=details,
        resolution_steps=[
            "Nothing of the snapshot was kept; the verified files stay in blobs/.",
            "Check the cache folder (MODEL_MANAGER_HF_CACHE_DIR): permissions, and files or "
            "folders left in snapshots/ by another tool, then resume the download.",
        ],
    )


def error_body(exc: BaseException) -> dict[str, Any]:
    """The envelope's ``error`` object a failed job records."""
    if isinstance(exc, ManagerError):
        body: dict[str, Any] = exc.body()["error"]
        return body
    logger.error("download failed unexpectedly", exc_info=exc)
    return ErrorBody(
        message=f"the download failed: {type(exc).__name__}: {exc}",
        type="server_error",
        code="internal_error",
        src="manager",
    ).model_dump()


def first_error(exc: BaseException) -> BaseException:
    """The most telling error of a task group's failure (a ManagerError when there is one)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []
        stack: list[BaseException] = [exc]
        while stack:
            item = stack.pop()
            if isinstance(item, BaseExceptionGroup):
                stack.extend(item.exceptions)
            else:
                leaves.append(item)
        for leaf in leaves:
            if isinstance(leaf, ManagerError):
                return leaf
        return leaves[0] if leaves else exc
    return exc
