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


# Models for tools and structured outputs: the default tiny model with room for the tools
# preamble (the tiny tokenizer spells it in ~480 tokens), the same with the plain template
# (no tool support), and one with a context of 100,000 tokens, so a prompt of a megabyte
# passes the length bound (17 characters per token at most) and is tokenized for real.
TOOLING_CONTEXT = 4096
HUGE_CONTEXT = 100_000


@pytest.fixture(scope="session")
def tooling_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import dataclasses

    from modelyard_dev.tiny_model import TINY, write_model

    root = tmp_path_factory.mktemp("tooling-models")
    write_model(root / "tools", dataclasses.replace(TINY, max_position_embeddings=TOOLING_CONTEXT))
    write_model(root / "plain", TINY, tools=False, seed=1)
    write_model(
        root / "huge-context", dataclasses.replace(TINY, max_position_embeddings=HUGE_CONTEXT)
    )
    return root


@pytest.fixture(scope="session")
def tooling(
    tooling_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One inference server for the tools and structured-output tests (started once)."""
    service = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(tooling_models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(tmp_path_factory.mktemp("tooling-empty-cache")),
            "MLX_SERVER_MAX_TOKENS_CAP": "4096",
        },
        log_dir=tmp_path_factory.mktemp("tooling-logs"),
    )
    service.start()
    yield service
    service.stop()
