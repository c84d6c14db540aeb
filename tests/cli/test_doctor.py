"""``modelyard doctor`` against a manager whose folders differ from the inference server's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard_dev.procs import Service, manager_service
from tests.cli.conftest import TOKEN, Stack


@pytest.fixture
def mismatched(stack: Stack, tmp_path: Path) -> Iterator[Service]:
    """A second manager on the stack's inference server, keeping models in its own folders
    (the mistake a user makes by setting only the manager's cache folder)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if httpx.get(f"{stack.url}/api/system", headers=auth, timeout=30).status_code == 404:
        pytest.skip("this manager has no /api/system yet")
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": stack.inference.url,
            "MODEL_MANAGER_API_TOKEN": TOKEN,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path / "data"),
            "MODEL_MANAGER_HF_CACHE_DIR": str(tmp_path / "own-cache"),
            "MODEL_MANAGER_MODELS_DIR": str(tmp_path / "own-models"),
            "MODEL_MANAGER_HF_ENDPOINT": stack.hub_url,
        },
        log_dir=tmp_path,
    )
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()


def test_doctor_names_a_folder_mismatch(stack: Stack, mismatched: Service, tmp_path: Path) -> None:
    result = stack.cli("doctor", MODELYARD_URL=mismatched.url)
    assert result.returncode == 1, result.stdout
    line = next(x for x in result.stdout.splitlines() if "same model folders" in x)
    assert line.startswith("✗ same model folders: ")
    assert str(tmp_path / "own-cache") in line and str(stack.cache) in line
    assert "HF_HUB_CACHE" in result.stdout  # the fix
    report = json.loads(stack.cli("doctor", "--json", MODELYARD_URL=mismatched.url).stdout)
    folders = next(c for c in report["checks"] if c["name"] == "same model folders")
    assert folders["ok"] is False and report["ok"] is False
