"""GET /api/hub/models/{id}/card: the model card as Markdown, without its front matter."""

from __future__ import annotations

import pytest

from manager.hub.card import card_body
from modelyard_dev.fake_hub import FakeHub
from tests.manager.hub.conftest import Manager

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@in_module_loop
async def test_card_of_a_model(manager: Manager, hub: FakeHub) -> None:
    r = await manager.client.get("/api/hub/models/Acme/Base-7B/card")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "Acme/Base-7B"
    assert body["sha"] == hub.repo("Acme/Base-7B").sha
    assert body["markdown"] == (
        "# Base-7B\n\nBase-7B is a dense decoder-only language model trained on a large and "
        "varied corpus.\n\n## Usage\n"
    )
    assert body["stale"] is False


@in_module_loop
async def test_card_of_a_repo_without_readme(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/models/Lonely/Solo-3B/card")
    assert r.status_code == 200, r.text
    assert r.json()["markdown"] is None


@in_module_loop
async def test_card_of_a_missing_repo(manager: Manager) -> None:
    r = await manager.client.get("/api/hub/models/Nobody/Nothing/card")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


def test_card_body_drops_only_the_front_matter() -> None:
    assert (
        card_body("---\nlicense: mit\n---\n# Title\n\n---\n\nText\n") == "# Title\n\n---\n\nText\n"
    )
    assert card_body("# No front matter\r\n") == "# No front matter\n"
