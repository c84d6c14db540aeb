"""The chat page's model picker: only models that can chat, each with its state and what it can
be asked for; a model the inference server cannot see is shown as not usable, with the reason.

Its own inference server and manager: they share the Hugging Face cache (a chat model and an
embedding model) but not the folder of imported models, so the manager's import is on its disk
and out of the inference server's sight (``not_visible_to_inference``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import inference_service, manager_service, running
from modelyard_dev.tiny_model import TINY, install_files_in_cache, model_files, write_model

pytestmark = pytest.mark.slow

CHAT = "org/picker-chat"
EMBEDDING = "org/picker-embed"
HIDDEN = "local/picker-hidden"


def test_picker_lists_chat_models_with_state_capabilities_and_hidden_ones_as_not_usable(
    open_page: Any, tmp_path: Path
) -> None:
    """Reproduction: the picker listed every ``type=chat`` entry as "— not_visible_to_inference"
    (the raw state), let a chat be sent to it (404 from the manager), and said nothing of what a
    model could be asked for."""
    cache, served, own = tmp_path / "hub", tmp_path / "served", tmp_path / "own"
    served.mkdir()
    install_files_in_cache(cache, CHAT, model_files(TINY, seed=4))
    install_files_in_cache(cache, EMBEDDING, model_files(TINY, seed=5))
    write_model(own / "picker-hidden", TINY, seed=6)
    inference = inference_service(
        {"MLX_SERVER_HF_CACHE_DIR": str(cache), "MLX_SERVER_MODELS_DIRS": str(served)},
        log_dir=tmp_path,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path / "data"),
            "MODEL_MANAGER_HF_CACHE_DIR": str(cache),
            "MODEL_MANAGER_MODELS_DIR": str(own),
            "MODEL_MANAGER_CATALOG_POOL_TTL_S": "0",
        },
        log_dir=tmp_path,
    )
    with running(inference, manager):
        catalog = httpx.get(manager.url + "/v1/models", timeout=30).json()["data"]
        states = {m["id"]: (m["type"], m["state"]) for m in catalog}
        assert states[CHAT] == ("chat", "not-loaded")
        assert states[EMBEDDING][0] == "embedding"
        assert states[HIDDEN] == ("chat", "not_visible_to_inference")

        w = open_page(manager)
        page = w.page
        w.goto("chat")
        w.wait_ready("chat")
        picker = page.get_by_label("Model", exact=True)
        options = {o.get_attribute("value"): o.inner_text() for o in picker.locator("option").all()}
        assert set(options) == {CHAT, HIDDEN}, options  # no embedding model
        assert options[CHAT].endswith("— not loaded")
        assert options[HIDDEN].endswith("— not usable here")
        # The first usable model is chosen, with what it can be asked for.
        assert picker.input_value() == CHAT
        info = page.locator(".model-info")
        badges = info.locator(".badge.capability").all_inner_texts()
        assert "tools" in badges and "JSON schema" in badges
        send = page.get_by_role("button", name="Send")
        assert send.is_enabled()

        picker.select_option(HIDDEN)
        hidden = info.locator(".not-visible")
        hidden.wait_for()
        text = hidden.inner_text()
        assert "Not usable" in text and "does not read the folder" in text
        assert str(served) in text  # the mismatch, from GET /api/system
        assert send.is_disabled()
        w.shot("chat-picker-not-visible")

        picker.select_option(CHAT)
        hidden.wait_for(state="detached")
        assert send.is_enabled()
        w.assert_clean()
