"""``/admin/capabilities`` and ``/ready`` of a real inference server; the model types its
mlx-lm can load, read from mlx-lm's files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlx_lm.utils
import pytest

from inference_server.errors import ModelNotLoadableError
from inference_server.pool.kinds import embedding_model_types, vision_model_types
from inference_server.pool.resolve import (
    inspect_folder,
    loadable_model_types,
    model_type_supported,
    served_model_types,
)
from modelyard_dev.procs import Service, inference_service
from shared_schemas.capabilities import InferenceCapabilities, package_version


def test_loadable_model_types_are_mlx_lm_models_and_its_renames() -> None:
    types = loadable_model_types()
    assert {"llama", "qwen2", "gemma3", "mistral"} <= types
    for alias, target in mlx_lm.utils.MODEL_REMAPPING.items():
        assert (alias in types) == (target in types), alias
    # Helper modules in mlx_lm/models are not model types.
    assert not {"base", "cache", "rope_utils", "switch_layers", "activations"} & types
    assert model_type_supported("mistral")  # served by the llama module
    assert not model_type_supported("cache")
    assert not model_type_supported("../../etc")


def test_served_model_types_add_encoders_and_vision_language_models() -> None:
    """Read from mlx-embeddings' and mlx-vlm's files, like mlx-lm's: their helper modules are
    not model types, and nothing is imported."""
    import subprocess
    import sys

    assert {"bert", "xlm_roberta", "modernbert"} <= embedding_model_types()
    assert {"qwen2_vl", "llava"} <= vision_model_types()
    assert not {"base", "cache", "activations"} & (embedding_model_types() | vision_model_types())
    served = served_model_types()
    assert loadable_model_types() <= served
    assert {"bert", "qwen2_vl", "llava"} <= served
    assert "qwen3" in embedding_model_types() and "qwen3" in loadable_model_types()
    probe = (
        "import sys; from inference_server.pool.resolve import served_model_types as s; s(); "
        "print(sorted(m for m in ('mlx', 'mlx_vlm', 'mlx_embeddings', 'mlx_lm') "
        "if m in sys.modules))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert imported.strip() == "[]"


@pytest.mark.parametrize("model_type", ["cache", "rope_utils", "no_such_model"])
def test_a_type_mlx_lm_cannot_load_is_refused_before_loading(
    model_type: str, models_dir: Path, tmp_path: Path
) -> None:
    """``cache`` is a helper module of mlx-lm, not a model: such a config used to pass the
    check (the module exists) and fail inside mlx-lm's loader."""
    folder = tmp_path / "odd"
    shutil.copytree(models_dir / "tiny-a", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
    with pytest.raises(ModelNotLoadableError) as caught:
        inspect_folder("local/odd", folder)
    assert caught.value.code == "unsupported_model_type"
    assert inspect_folder("local/tiny-a", models_dir / "tiny-a").config["model_type"] == "llama"


def test_every_reported_type_resolves_in_mlx_lm() -> None:
    """Each type names a module that mlx-lm's loader finds with ``Model`` and ``ModelArgs``
    (the way ``mlx_lm.utils._get_classes`` looks them up)."""
    import importlib

    for model_type in sorted(loadable_model_types())[:: max(1, len(loadable_model_types()) // 12)]:
        remapped = mlx_lm.utils.MODEL_REMAPPING.get(model_type, model_type)
        arch = {k[0]: v for k, v in mlx_lm.utils.MODEL_ARCHITECTURE_REMAPPING.items()}
        module = importlib.import_module(f"mlx_lm.models.{arch.get(model_type, remapped)}")
        assert hasattr(module, "Model") and hasattr(module, "ModelArgs"), model_type


@pytest.fixture(scope="module")
def described(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Path, Path]]:
    root = tmp_path_factory.mktemp("capabilities")
    home, cache = root / "yard", root / "hub"
    service = inference_service(
        {"MODELYARD_HOME": str(home), "HF_HUB_CACHE": str(cache), "MLX_SERVER_MAX_MODELS": "3"},
        log_dir=root,
    )
    service.start()
    yield service, home, cache
    service.stop()


def test_capabilities(described: tuple[Service, Path, Path]) -> None:
    service, home, cache = described
    answer = httpx.get(service.url + "/admin/capabilities", timeout=30)
    assert answer.status_code == 200
    caps = InferenceCapabilities.model_validate(answer.json())
    assert caps.model_types == sorted(served_model_types())
    assert caps.vision_model_types == sorted(vision_model_types())
    assert caps.hf_cache_dir == str(cache.resolve())
    assert caps.models_dirs == [str((home / "models").resolve())]
    assert caps.max_models == 3
    assert caps.memory_budget_bytes > 0
    assert caps.mlx_version == package_version("mlx")
    assert caps.mlx_lm_version == package_version("mlx-lm")
    assert caps.version == package_version("modelyard")
    assert {"chat", "completion", "stream", "embeddings", "vision"} <= set(caps.features)
    spec = httpx.get(service.url + "/openapi.json", timeout=30).json()
    assert "/admin/capabilities" in spec["paths"]
    assert "InferenceCapabilities" in spec["components"]["schemas"]


def test_ready_says_what_it_checks(described: tuple[Service, Path, Path]) -> None:
    service, home, _cache = described
    ready = httpx.get(service.url + "/ready", timeout=30)
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"worker", "mlx_lm", "storage"}
    assert all(check["ok"] for check in body["checks"].values())
    # A models folder that exists but is not a folder makes the server not ready.
    home.mkdir(parents=True)
    (home / "models").write_text("not a folder")
    try:
        blocked = httpx.get(service.url + "/ready", timeout=30)
    finally:
        (home / "models").unlink()
    assert blocked.status_code == 503
    body = blocked.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["storage"] == {
        "ok": False,
        "message": f"{home / 'models'} is not a readable folder",
    }
    assert body["checks"]["worker"]["ok"] and body["checks"]["mlx_lm"]["ok"]
