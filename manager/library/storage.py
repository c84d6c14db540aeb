"""Disk use of the library, and cleanup of what nothing uses. Blocking: run in a thread.

Loose files are:

- **partial downloads**: ``blobs/<etag>.incomplete`` in a cache repo;
- **unreferenced blobs**: files in a repo's ``blobs/`` that no snapshot links to (left by an
  interrupted download or by another tool);
- **stale imports**: hidden ``.import-*`` staging folders of imports that never finished.

A loose file is *protected* (kept by cleanup) when its repo has a download job that still
owns it, or when it changed within the grace period: a download in flight writes partials
and links a finished blob a moment after it lands, and an import in flight fills its
staging folder. Only unprotected loose files are removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from manager.library.importer import STAGING_PREFIX
from manager.library.scan import ScannedModel
from manager.library.schemas import (
    CleanupKind,
    CleanupResult,
    DiskUsage,
    LooseFile,
    ModelUsage,
    StorageStats,
)
from shared_schemas.hf_cache import blobs_dir, is_inside, is_partial, snapshots_dir
from shared_schemas.model_ids import ModelId


def _referenced_blobs(repo: Path) -> set[str]:
    """Names in ``repo/blobs`` that some snapshot links to."""
    blobs = os.path.realpath(blobs_dir(repo))
    names: set[str] = set()
    for dirpath, _dirs, filenames in os.walk(snapshots_dir(repo)):
        for name in filenames:
            link = os.path.join(dirpath, name)
            if os.path.islink(link):
                target = os.path.abspath(os.path.join(dirpath, os.readlink(link)))
                target = os.path.join(
                    os.path.realpath(os.path.dirname(target)), os.path.basename(target)
                )
                if os.path.dirname(target) == blobs:
                    names.add(os.path.basename(target))
    return names


def _loose(
    path: Path,
    kind: CleanupKind,
    model_id: str | None,
    owned: set[str] | None,
    now: float,
    grace_s: float,
) -> LooseFile | None:
    try:
        stat = path.lstat()
    except OSError:
        return None
    size, modified = stat.st_size, stat.st_mtime
    if kind == "stale_import":  # an import in progress keeps writing somewhere inside
        size, newest = _tree_stats(path)
        modified = max(modified, newest)
    recent = now - modified < grace_s
    owned_by_job = owned is not None and model_id is not None and model_id in owned
    return LooseFile(
        path=str(path),
        kind=kind,
        model_id=model_id,
        size_bytes=size,
        modified_at=modified,
        protected=recent or owned_by_job,
    )


def _tree_stats(path: Path) -> tuple[int, float]:
    """Bytes under ``path`` and the newest modification time in it."""
    total, newest = 0, 0.0
    for dirpath, _dirs, filenames in os.walk(path):
        newest = max(newest, os.lstat(dirpath).st_mtime)
        for name in filenames:
            stat = os.lstat(os.path.join(dirpath, name))
            newest = max(newest, stat.st_mtime)
            if not os.path.islink(os.path.join(dirpath, name)):
                total += stat.st_size
    return total, newest


def find_loose_files(
    cache_dir: Path,
    models_dir: Path,
    owned: set[str] | None,
    now: float,
    grace_s: float,
) -> list[LooseFile]:
    """Partial downloads, unreferenced blobs and stale imports, with their protection."""
    found: list[LooseFile] = []
    try:
        folders = sorted(os.listdir(cache_dir))
    except OSError:
        folders = []
    for folder in folders:
        parsed = ModelId.from_folder_name(folder)
        repo = cache_dir / folder
        if parsed is None or repo.is_symlink() or not blobs_dir(repo).is_dir():
            continue
        model_id = str(parsed)
        referenced: set[str] | None = None
        for blob in sorted(os.listdir(blobs_dir(repo))):
            path = blobs_dir(repo) / blob
            if path.is_symlink() or not path.is_file():
                continue
            if is_partial(blob):
                item = _loose(path, "partial", model_id, owned, now, grace_s)
            else:
                if referenced is None:
                    referenced = _referenced_blobs(repo)
                if blob in referenced:
                    continue
                item = _loose(path, "unreferenced_blob", model_id, owned, now, grace_s)
            if item is not None:
                found.append(item)
    try:
        staging = sorted(n for n in os.listdir(models_dir) if n.startswith(STAGING_PREFIX))
    except OSError:
        staging = []
    for name in staging:
        path = models_dir / name
        if path.is_dir() and not path.is_symlink():
            item = _loose(path, "stale_import", None, None, now, grace_s)
            if item is not None:
                found.append(item)
    return found


def _disks(paths: Iterable[Path]) -> list[DiskUsage]:
    out: list[DiskUsage] = []
    devices: set[int] = set()
    for path in paths:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            device = existing.stat().st_dev
            usage = shutil.disk_usage(existing)
        except OSError:
            continue
        if device in devices:
            continue
        devices.add(device)
        out.append(
            DiskUsage(
                path=str(path),
                total_bytes=usage.total,
                used_bytes=usage.used,
                free_bytes=usage.free,
            )
        )
    return out


def storage_stats(
    models: list[ScannedModel],
    loose: list[LooseFile],
    cache_dir: Path,
    models_dir: Path,
) -> StorageStats:
    partials = [f for f in loose if f.kind == "partial"]
    unreferenced = [f for f in loose if f.kind != "partial"]
    models_bytes = sum(m.size_bytes for m in models)
    partial_bytes = sum(f.size_bytes for f in partials)
    unreferenced_bytes = sum(f.size_bytes for f in unreferenced)
    disks = _disks([cache_dir, models_dir])
    return StorageStats(
        cache_dir=str(cache_dir),
        models_dir=str(models_dir),
        total_bytes=models_bytes + partial_bytes + unreferenced_bytes,
        models_bytes=models_bytes,
        partial_bytes=partial_bytes,
        unreferenced_bytes=unreferenced_bytes,
        models=sorted(
            (ModelUsage(id=m.id, source=m.source, size_bytes=m.size_bytes) for m in models),
            key=lambda u: -u.size_bytes,
        ),
        partial_downloads=partials,
        unreferenced=unreferenced,
        disks=disks,
        free_bytes=disks[0].free_bytes if disks else 0,
    )


def _remove(item: LooseFile, cache_dir: Path, models_dir: Path) -> bool:
    """Remove one loose file after checking it again; False when it is no longer there."""
    path = Path(item.path)
    root = models_dir if item.kind == "stale_import" else cache_dir
    if path.is_symlink() or not is_inside(path, root):
        return False
    try:
        if item.kind == "stale_import":
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True


def cleanup(
    loose: list[LooseFile], cache_dir: Path, models_dir: Path, *, dry_run: bool
) -> CleanupResult:
    removable = [f for f in loose if not f.protected]
    kept = [f for f in loose if f.protected]
    if not dry_run:
        removable = [f for f in removable if _remove(f, cache_dir, models_dir)]
    return CleanupResult(
        dry_run=dry_run,
        removed=removable,
        kept=kept,
        freed_bytes=sum(f.size_bytes for f in removable),
    )
