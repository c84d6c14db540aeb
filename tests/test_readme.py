"""README documents every setting of both processes (the env var a user sets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from inference_server.settings import InferenceSettings
from manager.settings import ManagerSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize(
    ("settings", "prefix"),
    [(ManagerSettings, "MODEL_MANAGER_"), (InferenceSettings, "MLX_SERVER_")],
)
def test_every_setting_is_in_readme(settings: type[BaseSettings], prefix: str) -> None:
    missing = [
        prefix + name.upper()
        for name in settings.model_fields
        if f"`{prefix}{name.upper()}`" not in README
    ]
    assert not missing, f"not documented in README: {missing}"
