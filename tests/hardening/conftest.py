"""Real services on loopback for the hardening tests, plus a models folder with hostile entries.

The package shares one inference server (``inference``) configured for quick fuzzing: every
generation is capped at a few tokens, ``local/tiny-a`` answers requests that name no model,
and at most two models stay loaded (so a third load evicts one). Tests that kill, restart or
lock down a server start their own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import Service, inference_service

MODEL = "local/tiny-a"
MAX_TOKENS = 8


def fuzz_env(models_dirs: list[Path], hf_cache: Path) -> dict[str, str]:
    return {
        "MLX_SERVER_MODELS_DIRS": ",".join(str(p) for p in models_dirs),
        "MLX_SERVER_HF_CACHE_DIR": str(hf_cache),
        # The default (512 tokens) is above the cap: requests that name no number get the cap.
        "MLX_SERVER_MAX_TOKENS_CAP": str(MAX_TOKENS),
        "MLX_SERVER_DEFAULT_MODEL": MODEL,
        "MLX_SERVER_MAX_MODELS": "2",
        "MLX_SERVER_KEEPALIVE_INTERVAL_S": "0.5",
    }


def manager_env(
    inference: Service, data_dir: Path, models_dir: Path, hf_cache: Path
) -> dict[str, str]:
    return {
        "MODEL_MANAGER_INFERENCE_URL": inference.url,
        "MODEL_MANAGER_DATA_DIR": str(data_dir),
        "MODEL_MANAGER_HF_CACHE_DIR": str(hf_cache),
        "MODEL_MANAGER_MODELS_DIR": str(models_dir),
        "MODEL_MANAGER_PROXY_RETRY_WAIT_S": "0.05",
    }


@pytest.fixture(scope="package")
def outside_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A folder outside every root, holding a complete model (``outside/tiny``) and a secret."""
    root = tmp_path_factory.mktemp("outside")
    shutil.copytree(models_dir / "tiny-a", root / "tiny")
    (root / "secret.txt").write_text("not for the inference server\n")
    return root


@pytest.fixture(scope="package")
def hostile_dir(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, outside_dir: Path
) -> Path:
    """A second models directory: a pickle-only model (``pickled``), a link out of the root
    (``escape``) and a model whose weights file is garbage (``corrupt``)."""
    root = tmp_path_factory.mktemp("hostile-models")
    unsafe = root / "pickled"
    unsafe.mkdir()
    shutil.copy(models_dir / "tiny-a" / "config.json", unsafe / "config.json")
    (unsafe / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    (unsafe / "optimizer.PT").write_bytes(b"\x80\x04")
    os.symlink(outside_dir / "tiny", root / "escape", target_is_directory=True)
    corrupt = root / "corrupt"
    shutil.copytree(models_dir / "tiny-a", corrupt)
    (corrupt / "model.safetensors").write_bytes(b"these are not safetensors")
    return root


@pytest.fixture(scope="package")
def long_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``local/tiny-long``: the tiny model with a 16k context, for generations that last."""
    from modelyard_dev.tiny_model import TINY, write_model

    root = tmp_path_factory.mktemp("long-models")
    write_model(root / "tiny-long", dataclasses.replace(TINY, max_position_embeddings=16384))
    return root


@pytest.fixture(scope="package")
def inference(
    models_dir: Path, hostile_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    logs = tmp_path_factory.mktemp("hardening-logs")
    service = inference_service(
        fuzz_env([models_dir, hostile_dir], tmp_path_factory.mktemp("hf-cache")), log_dir=logs
    )
    service.start()
    yield service
    service.stop()


def pool_slots(service: Service, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    r = httpx.get(service.url + "/admin/pool", headers=headers, timeout=10)
    r.raise_for_status()
    return {s["id"]: s for s in r.json()["slots"]}


def assert_envelope(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response has ``status`` and the one error envelope; returns the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] and error["src"] in {"manager", "inference_server"}
    assert isinstance(error["details"], dict) and isinstance(error["resolution_steps"], list)
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def sse_data(text: str) -> list[Any]:
    """The ``data:`` payloads of an event stream, JSON-decoded (``[DONE]`` kept as is)."""
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out
