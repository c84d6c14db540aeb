"""When the Hub is down, failing, or answering nonsense, and ids that must never leave."""

from __future__ import annotations

import pytest

from modelyard_dev.fake_hub import FakeHub
from tests.manager.hub.conftest import Manager

pytestmark = pytest.mark.asyncio(loop_scope="module")


ROUTES = [
    "/api/hub/search?q=base",
    "/api/hub/models/Acme/Base-7B",
    "/api/hub/models/Acme/Base-7B/variants",
    "/api/models/config/Acme/Base-7B",
]


async def test_unreachable_hub_is_503(make_manager) -> None:
    manager = await make_manager(hf_endpoint="http://127.0.0.1:9")
    for path in ROUTES:
        r = await manager.client.get(path)
        assert r.status_code == 503, path
        assert r.headers["Retry-After"].isdigit()
        error = r.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["type"] == "service_unavailable_error"
        assert error["src"] == "hub"
        assert "could not be reached" in error["message"]
        assert error["resolution_steps"]
    for operation in ("search", "model_info", "file"):
        assert (
            manager.metric(
                "modelyard_manager_hub_requests_total", operation=operation, outcome="unavailable"
            )
            >= 1
        ), operation


async def test_hub_errors_are_503(manager: Manager, hub: FakeHub) -> None:
    for status in (500, 502, 503, 429):
        hub.fail_next(1, status=status, target="api", retry_after=7 if status == 429 else None)
        r = await manager.client.get("/api/hub/search", params={"q": "base"})
        assert r.status_code == 503, status
        assert r.json()["error"]["src"] == "hub"
        assert r.headers["Retry-After"] == ("7" if status == 429 else "5")
    again = await manager.client.get("/api/hub/search", params={"q": "base"})
    assert again.status_code == 200  # errors are not cached


async def test_stale_answers_when_the_hub_fails(make_manager, hub: FakeHub) -> None:
    manager = await make_manager(hub_cache_ttl_s=0)
    fresh = await manager.client.get("/api/hub/models/Acme/Base-7B")
    assert fresh.json()["stale"] is False
    hub.fail_next(10, status=503, target="any")
    stale = await manager.client.get("/api/hub/models/Acme/Base-7B")
    assert stale.status_code == 200
    body = stale.json()
    assert body["stale"] is True
    assert {k: v for k, v in body.items() if k != "stale"} == {
        k: v for k, v in fresh.json().items() if k != "stale"
    }
    hub.reset_faults()
    assert (await manager.client.get("/api/hub/models/Acme/Base-7B")).json()["stale"] is False


async def test_stale_search(make_manager, hub: FakeHub) -> None:
    manager = await make_manager(hub_cache_ttl_s=0)
    await manager.client.get("/api/hub/search", params={"q": "vision"})
    hub.fail_next(1, status=500, target="api")
    r = await manager.client.get("/api/hub/search", params={"q": "vision"})
    assert r.status_code == 200 and r.json()["stale"] is True
    assert [x["id"] for x in r.json()["results"]] == ["Acme/Vision-2B"]


async def test_garbage_json_is_502(manager: Manager, hub: FakeHub) -> None:
    hub.set_fault(garbage_json=True, path_glob="/api/models/Acme/Base-7B")
    r = await manager.client.get("/api/hub/models/Acme/Base-7B")
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["code"] == "BAD_GATEWAY" and error["src"] == "hub"
    hub.set_fault(garbage_json=True, path_glob="/api/models")
    assert (await manager.client.get("/api/hub/search")).status_code == 502


async def test_truncated_answer_is_503_and_not_cached(manager: Manager, hub: FakeHub) -> None:
    hub.set_fault(truncate=True, path_glob="Acme/Pickle-1B/config.json")
    r = await manager.client.get("/api/hub/models/Acme/Pickle-1B")
    assert r.status_code == 503
    assert "broke before the answer was complete" in r.json()["error"]["message"]
    hub.reset_faults()
    assert (await manager.client.get("/api/hub/models/Acme/Pickle-1B")).status_code == 200


async def test_a_404_without_an_error_code_is_model_not_found(make_manager, hub: FakeHub) -> None:
    """Reproduction: a mirror (or proxy) answering ``GET /api/models/Acme/Base-7B`` with a bare
    404, without ``X-Error-Code``, made the model's details a 502 ``BAD_GATEWAY``; it is the
    model not found, 404, as with the Hub's own ``RepoNotFound``."""
    manager = await make_manager()  # nothing cached yet
    hub.fail_next(1, status=404, target="api", path_glob="/api/models/Acme/Base-7B")
    r = await manager.client.get("/api/hub/models/Acme/Base-7B")
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert (error["code"], error["src"]) == ("model_not_found", "hub")
    assert "'Acme/Base-7B' was not found" in error["message"]
    # A bare 404 on a search is not about a model: still a bad answer.
    hub.fail_next(1, status=404, target="api", path_glob="/api/models")
    assert (await manager.client.get("/api/hub/search", params={"q": "base"})).status_code == 502


BAD_IDS = [
    "/api/hub/models/a/%2E%2E/b",
    "/api/hub/models/..%2F..%2Fetc%2Fpasswd",
    "/api/hub/models/org/na--me",
    "/api/hub/models/-org/name",
    "/api/hub/models/org/name%20x",
    "/api/hub/models/org//name",
    "/api/hub/models/a/b/c",
    "/api/hub/models/local/tiny",
    "/api/hub/models/" + "x" * 300,
    "/api/hub/models/" + "x" * 600,
    "/api/hub/models/org/%00name/variants",
    "/api/hub/models/a/b/c/variants",
    "/api/models/config/local/%2E%2E",
    "/api/models/config/local/%2E%2E%2F%2E%2E%2Fetc",
    "/api/models/config/%2Fetc%2Fpasswd",
    "/api/models/config/org/name.",
]


async def test_bad_ids_are_400_before_any_request(manager: Manager, hub: FakeHub) -> None:
    for path in BAD_IDS:
        r = await manager.client.get(path)
        assert r.status_code == 400, (path, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_request", path
        assert error["param"] == "model_id", path
        assert error["src"] == "manager"
    assert hub.stats.api() == [] and hub.stats.files == {}


async def test_openapi_documents_the_routes(manager: Manager) -> None:
    spec = (await manager.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, model in [
        ("/api/hub/search", "HubSearchPage"),
        ("/api/hub/models/{model_id}", "HubModelDetails"),
        ("/api/hub/models/{model_id}/variants", "HubVariants"),
        ("/api/models/config/{model_id}", "ModelConfigInfo"),
    ]:
        get = paths[path]["get"]
        ok = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith(f"/{model}")
        for status in ("400", "503"):
            error = get["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert error.endswith("/ErrorEnvelope")
    details = spec["components"]["schemas"]["HubModelDetails"]["properties"]
    assert details["config_status"]["enum"] == ["ok", "missing", "gated", "invalid"]
