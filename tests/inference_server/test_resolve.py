"""Resolving a model on disk: the context window is read as the manager reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference_server.catalog import list_models
from inference_server.pool.resolve import ResolvedModel
from inference_server.settings import InferenceSettings


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"model_type": "gpt2", "n_positions": 1024}, 1024),
        ({"model_type": "gpt2", "n_ctx": 2048}, 2048),
        ({"max_position_embeddings": 4096, "n_positions": 1}, 4096),
        ({"llm_config": {"max_position_embeddings": 8192}}, 8192),
        ({"max_position_embeddings": 512.0}, 512),
        ({"max_position_embeddings": True}, None),
        ({}, None),
    ],
)
def test_context_length_keys(config: dict[str, object], expected: int | None) -> None:
    """Reproduction: a GPT-2-style config (``n_positions``) had no context limit on the
    inference server (it read three keys, the manager five), so a prompt longer than the
    model's window was not refused with ``context_length_exceeded``."""
    resolved = ResolvedModel(id="org/m", path=Path("."), config=config, weight_bytes=0)
    assert resolved.context_length == expected


def test_the_catalog_reports_an_n_positions_window(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "gpt").mkdir(parents=True)
    (models / "gpt" / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "n_positions": 1024})
    )
    settings = InferenceSettings(hf_cache_dir=tmp_path / "hf", models_dirs=[models])
    cards = list_models([], settings)
    assert [(c.id, c.context_length) for c in cards] == [("local/gpt", 1024)]
