from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard_dev.procs import Service, inference_service


@pytest.fixture(scope="module")
def inference(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A real inference server subprocess serving the tiny models."""
    logs = tmp_path_factory.mktemp("logs")
    service = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(tmp_path_factory.mktemp("empty-cache")),
            "MLX_SERVER_MAX_TOKENS_CAP": "4096",
            "MLX_SERVER_KEEPALIVE_INTERVAL_S": "0.5",
        },
        log_dir=logs,
    )
    service.start()
    yield service
    service.stop()
