"""Delete a model from disk, checked first and touching nothing when a check fails.

``plan_delete`` validates the id, finds the model's folder and proves every path it would
remove stays inside the cache or the models directory: the folder itself, and every symlink
in it, resolved. A Hub repo is removed with huggingface_hub's own strategy
(``delete_revisions(...)`` for all its revisions: snapshots, refs, and the blobs no other
revision of the repo uses), so the cache stays valid for every other tool. The strategy is
computed from a scan narrowed to the target repo alone: huggingface_hub looks revisions up
by commit hash across every repo it is given, and one commit hash can be cached under several
repos (a renamed repo kept under both names, a mirror, a fork, identical uploads), so a scan
of the whole cache would pick whichever repo came first. Every planned path must then lie
under the repo's own cache folder; other repos holding the same commit are
named in the answer and left as they are. An imported
folder is removed with ``shutil.rmtree``, which never follows symlinks; files hard-linked
from elsewhere stay where they came from. Both steps are blocking: run them in a thread.

``refuse_while_downloading`` is the check against the download jobs, and ``delete_result``
the answer (what was removed, or would be on a dry run, and what stays); the order of the
whole delete (checks, unload, remove, forget) is ``Library.delete``'s.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from huggingface_hub import CachedRepoInfo, DeleteCacheStrategy, HFCacheInfo, scan_cache_dir

from manager.errors import ConflictError, ModelNotFoundError
from manager.library.paths import (
    LOCAL_PREFIX,
    escaping_symlinks,
    is_inside,
    is_local_id,
    outside_root,
    validate_local_name,
    validate_model_id,
)
from manager.library.schemas import DeleteResult
from shared_schemas.hf_cache import repo_dir


@dataclass(frozen=True)
class DeletePlan:
    model_id: str
    target: Path
    root: Path
    strategy: DeleteCacheStrategy | None
    revisions: tuple[str, ...]
    freed_bytes: int
    kept_repos: tuple[str, ...] = ()

    @property
    def removed_paths(self) -> list[str]:
        if self.strategy is None:
            return [str(self.target)]
        paths = self.strategy.repos | self.strategy.snapshots
        return sorted(str(p) for p in paths)


def _not_found(model_id: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"The model '{model_id}' is not in the library",
        param="model_id",
        resolution_steps=["List the local models with GET /api/models/local."],
    )


def _tree_bytes(path: Path) -> int:
    if path.is_symlink():
        return 0
    total = 0
    for dirpath, _dirs, filenames in os.walk(path):
        for name in filenames:
            file = os.path.join(dirpath, name)
            if not os.path.islink(file):
                total += os.stat(file).st_size
    return total


def _contained(path: Path, root: Path) -> bool:
    """``path`` is inside ``root``: its folder resolved, and itself unless it is a link (a
    link is removed, never what it points at)."""
    absolute = Path(os.path.abspath(path))
    if not is_inside(absolute.parent, root):
        return False
    return absolute.is_symlink() or is_inside(absolute, root)


def _in_repo_folder(path: Path, folder: Path) -> bool:
    """``path`` is the repo folder itself or lies under it (its links not followed)."""
    return os.path.abspath(path) == os.path.abspath(folder) or _contained(path, folder)


def _check_tree(target: Path, root: Path, what: str) -> None:
    if not _contained(target, root) or (target.is_symlink() and not is_inside(target, root)):
        raise outside_root([target], what)
    escaping = escaping_symlinks(target, root)
    if escaping:
        raise outside_root(escaping, what)


def plan_delete(model_id: str, cache_dir: Path, models_dir: Path) -> DeletePlan:
    """What deleting ``model_id`` would remove; raises before anything is touched."""
    validate_model_id(model_id)
    if is_local_id(model_id):
        name = validate_local_name(model_id[len(LOCAL_PREFIX) :])
        target = models_dir / name
        if not os.path.lexists(target):
            raise _not_found(model_id)
        _check_tree(target, models_dir, model_id)
        return DeletePlan(model_id, target, models_dir, None, (), _tree_bytes(target))

    target = repo_dir(cache_dir, model_id)
    if not os.path.lexists(target):
        raise _not_found(model_id)
    _check_tree(target, cache_dir, model_id)
    if target.is_symlink():  # a repo folder linked to another inside the cache: drop the link
        return DeletePlan(model_id, target, cache_dir, None, (), 0)
    info = scan_cache_dir(cache_dir)
    repo = next(
        (r for r in info.repos if r.repo_type == "model" and r.repo_id == model_id),
        None,
    )
    if repo is None:  # a repo huggingface_hub calls corrupted: remove the folder itself
        return DeletePlan(model_id, target, cache_dir, None, (), _tree_bytes(target))
    revisions = tuple(sorted(r.commit_hash for r in repo.revisions))
    strategy = repo_strategy(info, repo)
    planned = [
        *strategy.blobs,
        *strategy.refs,
        *strategy.repos,
        *strategy.snapshots,
        *strategy.files,
    ]
    escaping = [p for p in planned if not _in_repo_folder(p, target)]
    if escaping:
        raise outside_root(escaping, model_id)
    return DeletePlan(
        model_id,
        target,
        cache_dir,
        strategy,
        revisions,
        int(strategy.expected_freed_size),
        kept_repos=sharing_commits(info, repo),
    )


def repo_strategy(info: HFCacheInfo, repo: CachedRepoInfo) -> DeleteCacheStrategy:
    """huggingface_hub's plan for deleting every revision of ``repo``, and of no other repo."""
    alone = replace(info, repos=frozenset({repo}))
    return alone.delete_revisions(*(r.commit_hash for r in repo.revisions))


def sharing_commits(info: HFCacheInfo, repo: CachedRepoInfo) -> tuple[str, ...]:
    """Other cached repos holding one of ``repo``'s commits (they stay as they are)."""
    commits = {r.commit_hash for r in repo.revisions}
    return tuple(
        sorted(
            other.repo_id
            for other in info.repos
            if other.repo_type == "model"
            and other.repo_path != repo.repo_path
            and any(r.commit_hash in commits for r in other.revisions)
        )
    )


def execute_delete(plan: DeletePlan) -> None:
    if plan.strategy is not None:
        plan.strategy.execute()
        return
    if plan.target.is_symlink():
        plan.target.unlink()
    else:
        shutil.rmtree(plan.target)


def refuse_while_downloading(model_id: str, owned: set[str] | None) -> None:
    """409 ``download_in_progress`` while a download job owns the model's files."""
    if owned is not None and model_id in owned:
        raise ConflictError(
            f"a download of '{model_id}' is in progress",
            code="download_in_progress",
            resolution_steps=["Cancel the download first (DELETE /api/downloads/{id})."],
        )


def delete_result(
    plan: DeletePlan, kept: list[str], *, unloaded: bool | None, dry_run: bool
) -> DeleteResult:
    """The answer to a delete: what was removed (on a dry run: what would be), what stays."""
    return DeleteResult(
        id=plan.model_id,
        dry_run=dry_run,
        unloaded=unloaded,
        freed_bytes=plan.freed_bytes,
        removed_revisions=list(plan.revisions),
        removed_paths=plan.removed_paths,
        kept_repos=list(plan.kept_repos),
        kept_paths=kept,
    )
