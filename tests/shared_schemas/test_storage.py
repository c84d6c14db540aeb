"""The storage defaults both processes share: pure functions of the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from shared_schemas import storage


def test_data_dir_is_modelyard_home_else_the_user_data_dir(tmp_path: Path) -> None:
    assert storage.data_dir({"MODELYARD_HOME": str(tmp_path)}) == tmp_path
    assert storage.models_dir({"MODELYARD_HOME": str(tmp_path)}) == tmp_path / "models"
    assert storage.data_dir({"MODELYARD_HOME": "~/yard", "HOME": "/home/u"}) == Path("/home/u/yard")
    default = Path(platformdirs.user_data_dir("modelyard", appauthor=False))
    assert storage.data_dir({}) == default
    assert storage.data_dir({"MODELYARD_HOME": "  "}) == default


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"HF_HOME": "/srv/hf"},
        {"HF_HOME": "~/hf-home"},
        {"HF_HOME": "$BASE/hf", "BASE": "/data"},
        {"HF_HUB_CACHE": "/srv/hub", "HF_HOME": "/srv/hf"},
        {"HUGGINGFACE_HUB_CACHE": "/legacy/hub", "HF_HOME": "/srv/hf"},
        {"HF_HUB_CACHE": "~/hub", "HUGGINGFACE_HUB_CACHE": "/legacy/hub"},
        {"XDG_CACHE_HOME": "/xdg/cache"},
    ],
)
def test_hf_cache_follows_huggingface_hub(env: dict[str, str], tmp_path: Path) -> None:
    """The same folder huggingface_hub itself picks in a process with that environment."""
    full = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), **env}
    probe = "from huggingface_hub import constants; print(constants.HF_HUB_CACHE)"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=full, capture_output=True, text=True, check=True
    )
    assert storage.hf_hub_cache(full) == Path(out.stdout.strip())


def test_tilde_and_variables() -> None:
    env = {"HOME": "/home/u", "ROOT": "/r"}
    assert storage.expand_user("~", env) == Path("/home/u")
    assert storage.expand_user("~/a/b", env) == Path("/home/u/a/b")
    assert storage.expand_user("/a/~b", env) == Path("/a/~b")
    assert storage.expand_path("$ROOT/x/${ROOT}", env) == Path("/r/x//r")
    assert storage.expand_path("$MISSING/x", env) == Path("$MISSING/x")


def test_a_relative_folder_is_refused() -> None:
    env = {"HOME": "/home/u"}
    assert storage.absolute_folder(Path("~/.local/share/modelyard"), env, "X") == Path(
        "/home/u/.local/share/modelyard"
    )
    with pytest.raises(ValueError, match=r"absolute path, got 'data' \(from X\)"):
        storage.absolute_folder(Path("data"), env, "X")


def test_folders_agree(tmp_path: Path) -> None:
    cache, models = tmp_path / "hf", tmp_path / "models"
    cache.mkdir()
    models.mkdir()
    (tmp_path / "link").symlink_to(cache, target_is_directory=True)
    assert not storage.folder_mismatches(
        hf_cache=tmp_path / "link",
        models=models,
        inference_hf_cache=cache,
        inference_models=[tmp_path / "other", models],
    )


def test_folders_disagree(tmp_path: Path) -> None:
    found = storage.folder_mismatches(
        hf_cache=tmp_path / "manager-hf",
        models=tmp_path / "manager-models",
        inference_hf_cache=tmp_path / "hf",
        inference_models=[tmp_path / "models"],
    )
    assert [m.folder for m in found] == ["hf_cache", "models"]
    assert str(tmp_path / "manager-hf") in found[0].message
    assert str(tmp_path / "hf") in found[0].message
    assert str(tmp_path / "manager-models") in found[1].message
    nothing = storage.folder_mismatches(
        hf_cache=tmp_path, models=tmp_path, inference_hf_cache=tmp_path, inference_models=[]
    )
    assert [m.message for m in nothing] == [
        f"the manager keeps imported models in {tmp_path}, "
        "but the inference server reads no models folder"
    ]
