from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from manager.settings import ManagerSettings


def test_defaults_are_local_and_safe(tmp_path: Path) -> None:
    settings = ManagerSettings(data_dir=tmp_path)
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.api_token is None
    assert settings.sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path / 'modelyard.db'}"
    assert settings.local_models_dir == tmp_path / "models"


def test_public_bind_without_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="without MODEL_MANAGER_API_TOKEN"):
        ManagerSettings(host="0.0.0.0")
    assert ManagerSettings(host="0.0.0.0", api_token="s3cret").api_token is not None
    assert ManagerSettings(host="::1").host == "::1"
    assert ManagerSettings(host="localhost").host == "localhost"


def test_wildcard_cors_is_refused() -> None:
    with pytest.raises(ValidationError, match="wildcard"):
        ManagerSettings(cors_origins="*")
    settings = ManagerSettings(cors_origins="http://a.test, http://b.test")
    assert settings.cors_origins == ["http://a.test", "http://b.test"]


def test_inference_url_is_checked() -> None:
    with pytest.raises(ValidationError):
        ManagerSettings(inference_url="ftp://x")
    assert ManagerSettings(inference_url="http://h:1/").inference_url == "http://h:1"


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODEL_MANAGER_PORT", "9123")
    monkeypatch.setenv("MODEL_MANAGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_MANAGER_DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    settings = ManagerSettings()
    assert settings.port == 9123
    assert settings.data_dir == tmp_path
    assert settings.sqlalchemy_url == "sqlite+aiosqlite:///:memory:"


def test_token_is_not_in_repr() -> None:
    settings = ManagerSettings(api_token="very-secret-value")
    assert "very-secret-value" not in repr(settings)
    assert "very-secret-value" not in str(settings.model_dump())


# ---- folders: one storage setting for both processes ----------------------------------------

_FOLDER_VARIABLES = (
    "MODELYARD_HOME",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
    "MODEL_MANAGER_DATA_DIR",
    "MODEL_MANAGER_HF_CACHE_DIR",
    "MODEL_MANAGER_MODELS_DIR",
    "MLX_SERVER_HF_CACHE_DIR",
    "MLX_SERVER_MODELS_DIRS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in _FOLDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_shared_settings_serve_both_processes(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from inference_server.settings import InferenceSettings

    clean_env.setenv("MODELYARD_HOME", str(tmp_path / "yard"))
    clean_env.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    manager, inference = ManagerSettings(), InferenceSettings()
    assert manager.data_dir == tmp_path / "yard"
    assert manager.sqlalchemy_url.endswith(str(tmp_path / "yard" / "modelyard.db"))
    assert manager.local_models_dir == tmp_path / "yard" / "models"
    assert inference.models_dirs == [manager.local_models_dir]
    assert manager.hub_cache == inference.hf_cache_dir == tmp_path / "hub"


def test_per_process_settings_override(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from inference_server.settings import InferenceSettings

    clean_env.setenv("MODELYARD_HOME", str(tmp_path / "yard"))
    clean_env.setenv("HF_HOME", str(tmp_path / "hf"))
    clean_env.setenv("MODEL_MANAGER_DATA_DIR", str(tmp_path / "db"))
    clean_env.setenv("MODEL_MANAGER_HF_CACHE_DIR", str(tmp_path / "m-hub"))
    clean_env.setenv("MLX_SERVER_MODELS_DIRS", f"{tmp_path / 'a'},{tmp_path / 'b'}")
    manager, inference = ManagerSettings(), InferenceSettings()
    assert manager.data_dir == tmp_path / "db"
    assert manager.local_models_dir == tmp_path / "db" / "models"
    assert manager.hub_cache == tmp_path / "m-hub"
    assert inference.hf_cache_dir == tmp_path / "hf" / "hub"
    assert inference.models_dirs == [tmp_path / "a", tmp_path / "b"]


def test_tilde_is_expanded_in_every_path_setting(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Reproduction: ``MODEL_MANAGER_DATA_DIR=~/.local/share/modelyard`` (as in
    ``.env.example``) made the manager create a folder literally named ``~`` in its working
    directory; the other path settings kept the ``~`` too."""
    from inference_server.settings import InferenceSettings

    home = tmp_path / "home"
    clean_env.setenv("MODEL_MANAGER_DATA_DIR", "~/.local/share/modelyard")
    clean_env.setenv("MODEL_MANAGER_HF_CACHE_DIR", "~/hf")
    clean_env.setenv("MODEL_MANAGER_MODELS_DIR", "~/models")
    clean_env.setenv("MODEL_MANAGER_CATALOG_FILE", "~/catalog.json")
    clean_env.setenv("MLX_SERVER_HF_CACHE_DIR", "~/hf")
    clean_env.setenv("MLX_SERVER_MODELS_DIRS", "~/models, ~/more")
    manager, inference = ManagerSettings(), InferenceSettings()
    assert manager.data_dir == home / ".local/share/modelyard"
    assert manager.hub_cache == inference.hf_cache_dir == home / "hf"
    assert manager.local_models_dir == home / "models"
    assert manager.catalog_file == home / "catalog.json"
    assert inference.models_dirs == [home / "models", home / "more"]
    clean_env.delenv("MODEL_MANAGER_DATA_DIR")
    clean_env.delenv("MLX_SERVER_MODELS_DIRS")
    clean_env.setenv("MODELYARD_HOME", "~/yard")
    assert ManagerSettings().data_dir == home / "yard"
    assert InferenceSettings().models_dirs == [home / "yard" / "models"]


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("MODEL_MANAGER_DATA_DIR", "MODEL_MANAGER_DATA_DIR"),
        ("MODELYARD_HOME", "MODELYARD_HOME"),
        ("MODEL_MANAGER_MODELS_DIR", "MODEL_MANAGER_MODELS_DIR"),
    ],
)
def test_a_relative_data_dir_stops_the_start(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, variable: str, named: str
) -> None:
    """A relative folder would be a different one for each working directory (and for each
    process): ``python -m manager`` refuses it in one line, exit status 2, creating nothing."""
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MANAGER_")}
    env[variable] = "relative/data"
    result = subprocess.run(
        [sys.executable, "-m", "manager"], cwd=work, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("manager: invalid settings: MODEL_MANAGER_")
    assert "must be an absolute path, got 'relative/data" in lines[0]
    assert named in lines[0]
    assert list(work.iterdir()) == []
