"""The cache layout's one rule for the current snapshot, and the one containment check."""

from __future__ import annotations

import os
from pathlib import Path

from shared_schemas.hf_cache import (
    choose_snapshot,
    current_snapshot,
    is_inside,
    partial_path,
    ref_path,
    repo_dir,
    snapshot_path,
)
from shared_schemas.model_ids import ModelId

A, B = "a" * 40, "b" * 40


def test_a_ref_names_the_snapshot() -> None:
    assert choose_snapshot(A + "\n", [(A, 1.0), (B, 2.0)]) == A
    assert choose_snapshot(B, [(A, 1.0)]) is None  # the ref's snapshot is missing
    for bad in ("", "../x", "..", "a/b", ".", "x" * 300):
        assert choose_snapshot(bad, [(A, 1.0), (bad, 2.0)]) is None, bad


def test_without_a_ref_the_newest_snapshot_wins() -> None:
    assert choose_snapshot(None, [(A, 2.0), (B, 1.0)]) == A
    assert choose_snapshot(None, [(A, 1.0), (B, 2.0)]) == B
    assert choose_snapshot(None, [(A, 1.0), (B, 1.0)]) == B  # a tie: the greatest name
    assert choose_snapshot(None, []) is None


def test_current_snapshot_on_disk(tmp_path: Path) -> None:
    repo = repo_dir(tmp_path, ModelId.parse("org/m"))
    assert repo == tmp_path / "models--org--m"
    assert current_snapshot(repo) is None
    for commit, mtime in ((A, 1_000_000), (B, 2_000_000)):
        snapshot_path(repo, commit).mkdir(parents=True)
        os.utime(snapshot_path(repo, commit), (mtime, mtime))
    (repo / "snapshots" / "a-file").write_text("not a snapshot")
    assert current_snapshot(repo) == snapshot_path(repo, B)
    ref_path(repo).parent.mkdir()
    ref_path(repo).write_text(A)
    assert current_snapshot(repo) == snapshot_path(repo, A)
    ref_path(repo).write_bytes(b"\xff\xfe")  # unreadable: as if there were none
    assert current_snapshot(repo) == snapshot_path(repo, B)
    assert partial_path(repo, "e" * 64).name == "e" * 64 + ".incomplete"


def test_is_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "rootling").mkdir()
    (root / "out").symlink_to(tmp_path, target_is_directory=True)
    (root / "loop").symlink_to(root / "loop")
    assert is_inside(root, root) and is_inside(root / "sub", root)
    assert is_inside(root / "missing" / "x", root)
    assert not is_inside(tmp_path / "rootling", root)  # a shared prefix is not inside
    assert not is_inside(root / "out", root)
    assert not is_inside(root / "sub" / ".." / "..", root)
    assert is_inside(root / "loop", root)  # a link loop inside the root: no error
