"""Both services as real subprocesses on loopback, the way users start them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard_dev.procs import Service, inference_service, manager_service

TOKEN = "e2e-secret-token"


@dataclass
class Stack:
    manager: Service
    inference: Service

    @property
    def base_url(self) -> str:
        return f"{self.manager.url}/v1"


def start_stack(
    models_dir: Path, hf_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(hf_cache),
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_API_TOKEN": TOKEN,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("e2e-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(hf_cache),
            "MODEL_MANAGER_MODELS_DIR": str(models_dir),
            "MODEL_MANAGER_PROXY_RETRY_WAIT_S": "0.05",
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield Stack(manager=manager, inference=inference)
        finally:
            manager.stop()
    finally:
        inference.stop()


@pytest.fixture(scope="module")
def stack(
    models_dir: Path, hf_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from start_stack(models_dir, hf_cache, tmp_path_factory)


# A tiny model with tool support and room for the tools preamble in its context, and a tiny
# vision-language model beside it.
TOOLS_MODEL = "local/tools"
VISION_MODEL = "local/vision"


@pytest.fixture(scope="session")
def tools_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import dataclasses

    from modelyard_dev.tiny_model import TINY, write_model
    from modelyard_dev.tiny_multimodal import vision_files, write_files

    root = tmp_path_factory.mktemp("e2e-tool-models")
    write_model(root / "tools", dataclasses.replace(TINY, max_position_embeddings=4096))
    write_files(root / "vision", vision_files(seed=0))
    return root


@pytest.fixture(scope="module")
def tools_stack(
    tools_models_dir: Path, hf_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Both services serving ``local/tools`` and ``local/vision``."""
    yield from start_stack(tools_models_dir, hf_cache, tmp_path_factory)
