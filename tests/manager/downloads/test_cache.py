"""Linking a snapshot into the Hugging Face cache: whole or not at all, on a real folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from huggingface_hub import scan_cache_dir

from manager.downloads.cache import STAGING, RepoCache
from manager.downloads.plan import RemoteFile

COMMIT = "c" * 40
REPO = "org/linked"


def blob_file(repo: RepoCache, path: str, data: bytes) -> RemoteFile:
    """A verified blob in the cache for ``path`` (as the engine leaves it)."""
    sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    file = RemoteFile(path=path, size=len(data), blob_id=sha1)
    repo.prepare()
    repo.blob(file).write_bytes(data)
    return file


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a link's target, or ``dir`` / ``file``."""
    out: dict[str, str] = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            out[rel] = (
                os.readlink(path) if path.is_symlink() else "dir" if path.is_dir() else "file"
            )
    return out


def test_linked_snapshot_is_a_standard_cache_entry(tmp_path: Path) -> None:
    repo = RepoCache(tmp_path, REPO)
    files = [
        blob_file(repo, "config.json", b"{}"),
        blob_file(repo, "sub/dir/tokenizer.json", b'{"t": 1}'),
    ]
    repo.link_snapshot(COMMIT, files, "main")
    assert repo.is_complete(COMMIT, files)
    assert repo.ref("main").read_text() == COMMIT
    assert (repo.pointer(COMMIT, files[1])).read_bytes() == b'{"t": 1}'
    assert not (repo.folder / STAGING).exists()
    (cached,) = scan_cache_dir(tmp_path).repos
    assert cached.repo_id == REPO and cached.refs["main"].commit_hash == COMMIT


def test_a_failure_while_linking_leaves_no_snapshot_and_no_ref(tmp_path: Path) -> None:
    """Reproduction: files were linked one by one straight into ``snapshots/<commit>/``; a name
    the file system refuses (300 characters: ENAMETOOLONG) failed the job after the files
    before it were linked, and the half-linked snapshot was listed as a usable model."""
    repo = RepoCache(tmp_path, REPO)
    files = [
        blob_file(repo, "config.json", b"{}"),
        blob_file(repo, "model.safetensors", b"weights"),
        blob_file(repo, "z" * 300 + ".json", b"[]"),
    ]
    with pytest.raises(OSError):
        repo.link_snapshot(COMMIT, files, "main")
    assert not (repo.folder / "snapshots").exists() or not any(
        (repo.folder / "snapshots").iterdir()
    )
    assert not repo.ref("main").exists()
    assert not (repo.folder / STAGING).exists()
    assert all(repo.has_blob(f) for f in files[:2])  # verified bytes are kept for a retry


def test_more_files_for_an_existing_snapshot_are_added_to_it(tmp_path: Path) -> None:
    repo = RepoCache(tmp_path, REPO)
    config = blob_file(repo, "config.json", b"{}")
    repo.link_snapshot(COMMIT, [config], "main")
    snapshot = repo.snapshot(COMMIT)
    (snapshot / "notes").mkdir()
    (snapshot / "notes" / "kept.txt").write_text("a plain file another tool put here")
    weights = blob_file(repo, "model.safetensors", b"weights")
    repo.link_snapshot(COMMIT, [weights], "main")
    assert repo.is_complete(COMMIT, [config, weights])
    assert (snapshot / "notes" / "kept.txt").read_text() == "a plain file another tool put here"
    assert tree(snapshot)["config.json"] == "../../blobs/" + config.etag


def test_a_failure_against_an_existing_snapshot_leaves_it_as_it_was(tmp_path: Path) -> None:
    """Reproduction: another tool left a folder where a file of the download belongs; the
    files before it were linked into the snapshot, the rest not, and the ref was missing."""
    repo = RepoCache(tmp_path, REPO)
    config = blob_file(repo, "config.json", b"{}")
    repo.link_snapshot(COMMIT, [config], "v1")
    snapshot = repo.snapshot(COMMIT)
    (snapshot / "tokenizer.json").mkdir()
    (snapshot / "tokenizer.json" / "x").write_text("in the way")
    before = tree(snapshot)
    files = [
        blob_file(repo, "model.safetensors", b"weights"),
        blob_file(repo, "tokenizer.json", b"{}"),
    ]
    with pytest.raises(OSError):
        repo.link_snapshot(COMMIT, files, "main")
    assert tree(snapshot) == before
    assert not repo.ref("main").exists() and repo.ref("v1").read_text() == COMMIT
    assert not (repo.folder / STAGING).exists()


def test_leftovers_of_a_process_that_died_while_linking_are_cleared(tmp_path: Path) -> None:
    repo = RepoCache(tmp_path, REPO)
    config = blob_file(repo, "config.json", b"{}")
    leftover = repo.folder / STAGING / f"{COMMIT}.deadbeef"
    leftover.mkdir(parents=True)
    os.symlink("../../blobs/" + config.etag, leftover / "config.json")
    other = repo.folder / STAGING / f"{'d' * 40}.cafebabe"
    other.mkdir()
    repo.link_snapshot(COMMIT, [config], "main")
    assert not leftover.exists()
    assert other.is_dir()  # another commit's: not this link's to remove
    assert repo.is_complete(COMMIT, [config])
