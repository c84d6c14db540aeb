"""Requests to the download API that once went wrong: huge patterns, Hub 404s without an
error code, a method the events route does not have, a script waiting on a job's stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from modelyard_dev.fake_hub import FakeHub
from tests.manager.downloads.conftest import TINY, Manager, ManagerFactory


async def test_allow_patterns_are_capped_and_never_echoed_whole(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """Reproduction: ``{"model_id": "org/tiny", "allow_patterns": ["q" * 1_000_000]}`` was
    planned: the pattern was matched against every file (9 s on the event loop) and came back
    whole in the 400's message. Each pattern is now at most 256 characters, the list at most
    64, and a bad one is refused by the schema before the Hub is asked."""
    async with run_manager() as m:
        for patterns, param in [
            (["q" * 1_000_000], "allow_patterns.0"),
            (["*.json", "q" * 257], "allow_patterns.1"),
            ([f"{i}.json" for i in range(65)], "allow_patterns"),
        ]:
            response = await m.client.post(
                "/api/downloads", json={"model_id": TINY, "allow_patterns": patterns}
            )
            assert response.status_code == 400, response.text[:500]
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("invalid_request", param)
            assert "q" * 201 not in response.text and len(response.content) < 4096
        assert hub.stats.api() == []
        longest = await m.client.post(
            "/api/downloads", json={"model_id": TINY, "allow_patterns": ["q" * 256]}
        )
        assert longest.status_code == 400, longest.text
        assert longest.json()["error"]["code"] == "no_matching_files"
        assert "q" * 200 in longest.text and "q" * 201 not in longest.text


async def test_a_hub_404_without_an_error_code_is_not_found(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """Reproduction: a mirror answering a bare 404 (no ``X-Error-Code``) for the model or its
    revision made ``POST /api/downloads`` answer 502 ``BAD_GATEWAY``; it is the model (or the
    revision) not found, 404."""
    async with run_manager() as m:
        # The revision lookup and the model lookup both 404: the model is missing.
        hub.fail_next(2, status=404, target="api", path_glob="/api/models/org/gone*")
        response = await m.client.post("/api/downloads", json={"model_id": "org/gone"})
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"], error["src"]) == (
            "model_not_found",
            "model_id",
            "hub",
        )
        # Only the revision lookup 404s: the model is there, the revision is not.
        hub.fail_next(1, status=404, target="api", path_glob=f"/api/models/{TINY}/revision/*")
        response = await m.client.post("/api/downloads", json={"model_id": TINY, "revision": "v9"})
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("model_not_found", "revision")
        assert "revision 'v9'" in error["message"]
        assert (await m.client.get("/api/downloads")).json()["total"] == 0


async def test_delete_on_the_events_route_is_405(run_manager: ManagerFactory) -> None:
    """Reproduction: ``DELETE /api/downloads/events`` answered 400 (``events`` read as a job
    id that is not a UUID); the path has GET only."""
    async with run_manager() as m:
        for method in ("DELETE", "POST", "PUT"):
            response = await m.client.request(method, "/api/downloads/events")
            assert response.status_code == 405, (method, response.text)
            assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
            assert response.headers["allow"] == "GET"


async def read_stream(m: Manager, path: str, within: float = 20.0) -> list[dict[str, Any]]:
    """Every event of a stream, read until the server ends it."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(within), m.client.stream("GET", path) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


@pytest.mark.parametrize("outcome", ["completed", "failed", "cancelled"])
async def test_a_job_stream_ends_after_the_jobs_last_event(
    hub: FakeHub, run_manager: ManagerFactory, outcome: str
) -> None:
    """Reproduction: ``curl -N /api/downloads/<id>/events`` never ended, so a script could not
    wait on a download with it; the stream now ends after the job's terminal status. The
    stream of every job stays open."""
    repo_id = f"sse/end-{outcome}"
    hub.add_big_file(repo_id, "model.safetensors", 400_000, seed=31)
    hub.set_fault(path_glob=f"{repo_id}/*", throttle_bps=20_000)
    async with run_manager() as m:
        job = await m.start(repo_id, force=True)  # weights alone: forced
        path = f"/api/downloads/{job['id']}/events"
        reader = asyncio.create_task(read_stream(m, path))
        await m.wait(job["id"], until=lambda _job: m.downloads.events.subscriber_count == 1)
        if outcome == "cancelled":
            await m.client.delete(f"/api/downloads/{job['id']}")
        else:
            await m.client.post(f"/api/downloads/{job['id']}/pause")
            hub.reset_faults()
            if outcome == "failed":
                hub.fail_next(1, status=404, path_glob=f"{repo_id}/model.safetensors")
            await m.client.post(f"/api/downloads/{job['id']}/resume")
        events = await reader
        assert events[0]["type"] == "snapshot"
        assert (events[-1]["type"], events[-1]["job"]["status"]) == ("status", outcome)
        # A finished job's stream: its snapshot, then the end.
        again = await read_stream(m, path)
        assert [e["type"] for e in again] == ["snapshot"]
        assert again[0]["jobs"][0]["status"] == outcome
        # The stream of every job does not end with one of them.
        with pytest.raises(TimeoutError):
            await read_stream(m, "/api/downloads/events", within=0.5)


async def test_a_hub_401_to_the_planner_is_access_denied(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """Reproduction: a 401 without ``X-Error-Code`` on the revision lookup (a token the Hub
    refuses) made ``POST /api/downloads`` answer 502 ``BAD_GATEWAY``, while the Hub details
    route and the byte engine answered 403 ``HUB_ACCESS_DENIED``; it is access denied."""
    async with run_manager() as m:
        hub.fail_next(1, status=401, target="api", path_glob=f"/api/models/{TINY}/revision/*")
        response = await m.client.post("/api/downloads", json={"model_id": TINY})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "HUB_ACCESS_DENIED"


async def test_an_unavailable_hub_at_planning_is_503_with_its_retry_after(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """The planner retries a busy Hub, then answers 503 with the Hub's ``Retry-After`` (or the
    one default when the Hub gave none)."""
    async with run_manager(download_retries=1) as m:
        glob = f"/api/models/{TINY}/revision/*"
        hub.fail_next(2, status=429, target="api", path_glob=glob, retry_after=0.05)
        response = await m.client.post("/api/downloads", json={"model_id": TINY})
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        hub.fail_next(2, status=503, target="api", path_glob=glob)
        response = await m.client.post("/api/downloads", json={"model_id": TINY})
        assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
