"""``capabilities`` on the manager's ``/v1/models`` entries come from the inference server:
real processes, real tiny models (one whose chat template writes tool calls, one whose
template does not)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import TINY, write_model


@pytest.fixture
def home(models_dir: Path, tmp_path: Path) -> Path:
    """``MODELYARD_HOME`` with ``local/tools`` (a template with tool calls) and
    ``local/plain`` (a chat template without)."""
    home = tmp_path / "yard"
    shutil.copytree(models_dir / "tiny-a", home / "models" / "tools")
    write_model(home / "models" / "plain", TINY, tools=False, seed=1)
    return home


@pytest.fixture
def services(home: Path, tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    shared = {"MODELYARD_HOME": str(home), "HF_HUB_CACHE": str(tmp_path / "hub")}
    inference = inference_service(shared, log_dir=tmp_path)
    manager = manager_service(
        {
            **shared,
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_CATALOG_POOL_RETRY_S": "0",
            "MODEL_MANAGER_CATALOG_POOL_TTL_S": "0",
        },
        log_dir=tmp_path,
    )
    try:
        inference.start()
        manager.start()
        yield inference, manager
    finally:
        manager.stop()
        inference.stop()


def _cards(url: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(url + "/v1/models", timeout=30)
    assert answer.status_code == 200, answer.text
    return {card["id"]: card for card in answer.json()["data"]}


def _eventually(check: Any, timeout_s: float = 30.0) -> Any:
    """``check()``'s first true value; the manager may answer once before its fetch lands."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _known(cards: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    return cards if all(c["capabilities"] is not None for c in cards.values()) else None


def test_capabilities_are_the_inference_servers(
    services: tuple[Service, Service], home: Path
) -> None:
    inference, manager = services
    served = _cards(inference.url)
    cards = _eventually(lambda: _known(_cards(manager.url)))
    assert set(cards) == {"local/tools", "local/plain"}
    for model_id, card in cards.items():
        assert card["capabilities"] == served[model_id]["capabilities"], model_id
    tools = cards["local/tools"]["capabilities"]
    assert {"chat", "completion", "tools", "json_schema", "logprobs"} <= set(tools)
    plain = cards["local/plain"]["capabilities"]
    assert "chat" in plain and "tools" not in plain
    one = httpx.get(manager.url + "/v1/models/local/tools", timeout=30).json()
    assert one["capabilities"] == tools

    # A model that arrives later is asked about.
    shutil.copytree(home / "models" / "plain", home / "models" / "later")
    later = _eventually(lambda: _cards(manager.url).get("local/later", {}).get("capabilities"))
    assert later == plain

    # With the inference server gone, nobody can say: null, like the state.
    inference.stop()
    gone = _cards(manager.url)
    assert {c["state"] for c in gone.values()} == {"unknown"}
    assert all(c["capabilities"] is None for c in gone.values())
