from __future__ import annotations

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
