"""Server-sent events over real HTTP: a snapshot on connect, throttled progress with per-file
bytes, status changes, two subscribers at once, a reconnect with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from modelyard_dev.fake_hub import FakeHub
from tests.manager.downloads.conftest import Manager, ManagerFactory
from tests.manager.downloads.test_api import add_model, throttle, unthrottle

SIZE = 1_500_000


class EventReader:
    """Reads one SSE response: ``(id, data)`` pairs, keep-alive comments counted."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines: AsyncIterator[str] = response.aiter_lines()
        self.comments = 0

    async def next(self, within: float = 10.0) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(within):
            event_id = ""
            data: dict[str, Any] | None = None
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and data is not None:
                    return event_id, data
        raise AssertionError("the stream ended")

    async def until_status(self, *statuses: str) -> list[tuple[str, dict[str, Any]]]:
        seen = []
        while True:
            event = await self.next()
            seen.append(event)
            job = event[1].get("job") or {}
            if event[1]["type"] == "status" and job.get("status") in statuses:
                return seen


async def open_stream(m: Manager, path: str, last_event_id: str | None = None) -> Any:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return m.client.stream("GET", path, headers=headers)


async def test_two_subscribers_see_snapshot_progress_and_status(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "sse/two", size=SIZE, seed=21)
    throttle(hub, "sse/two", 1_000_000)
    async with run_manager(download_progress_interval_s=0.1) as m:
        job = await m.start("sse/two")
        async with (
            await open_stream(m, "/api/downloads/events") as all_jobs,
            await open_stream(m, f"/api/downloads/{job['id']}/events") as one_job,
        ):
            assert all_jobs.headers["content-type"].startswith("text/event-stream")
            assert all_jobs.headers["cache-control"] == "no-cache"
            readers = [EventReader(all_jobs), EventReader(one_job)]
            for reader in readers:
                _id, first = await reader.next()
                assert first["type"] == "snapshot"
                assert [j["id"] for j in first["jobs"]] == [job["id"]]
            assert m.downloads.events.subscriber_count == 2
            progress = [e for e in await readers[1].until_status("downloading", "completed")]
            await m.wait(job["id"], until=lambda j: j["bytes_done"] > 300_000)
            await unthrottle(m, hub, job["id"])
            events = [*progress, *await readers[1].until_status("completed")]
            seen_all = await readers[0].until_status("completed")
        ids = [int(event_id.rsplit("-", 1)[1]) for event_id, _ in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        kinds = [data["type"] for _, data in events]
        assert {"progress", "status"} <= set(kinds)
        statuses = [d["job"]["status"] for _, d in events if d["type"] == "status"]
        assert statuses[-1] == "completed"
        assert {"downloading", "paused", "queued", "verifying"} <= set(statuses)
        updates = [d["job"] for _, d in events if d["type"] == "progress"]
        assert len(updates) >= 2
        weights = [next(f for f in u["files"] if f["path"] == "model.safetensors") for u in updates]
        assert [w["bytes_done"] for w in weights] == sorted(w["bytes_done"] for w in weights)
        assert any(0 < w["bytes_done"] < SIZE for w in weights)  # per-file attribution
        assert any(u["speed_bps"] for u in updates)
        assert {e[1]["type"] for e in seen_all} >= {"progress", "status"}
        # Both streams closed: no subscriber is left behind.
        for _ in range(100):
            if m.downloads.events.subscriber_count == 0:
                break
            await asyncio.sleep(0.01)
        assert m.downloads.events.subscriber_count == 0


async def test_reconnect_with_last_event_id_replays_missed_events(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "sse/replay", size=SIZE, seed=22)
    throttle(hub, "sse/replay", 1_000_000)
    async with run_manager(download_progress_interval_s=0.05) as m:
        job = await m.start("sse/replay")
        path = f"/api/downloads/{job['id']}/events"
        async with await open_stream(m, path) as response:
            reader = EventReader(response)
            await reader.next()  # snapshot
            last_id, last = await reader.next()
        # Disconnected: events keep coming while nobody listens.
        await m.wait(job["id"], until=lambda j: j["bytes_done"] > 200_000)
        await m.client.post(f"/api/downloads/{job['id']}/pause")
        async with await open_stream(m, path, last_event_id=last_id) as response:
            reader = EventReader(response)
            replayed = []
            while True:
                event = await reader.next()
                replayed.append(event)
                if event[1].get("job", {}).get("status") == "paused":
                    break
        assert replayed[0][1]["type"] != "snapshot"
        seqs = [int(event_id.rsplit("-", 1)[1]) for event_id, _ in replayed]
        assert seqs == sorted(seqs) and seqs[0] > int(last_id.rsplit("-", 1)[1])
        assert all(data["job"]["id"] == job["id"] for _, data in replayed)
        assert last["job"]["bytes_done"] <= replayed[-1][1]["job"]["bytes_done"]
        # An id from another process (or too old) gets a snapshot instead.
        async with await open_stream(m, path, last_event_id="deadbeef-3") as response:
            _id, data = await EventReader(response).next()
            assert data["type"] == "snapshot" and data["jobs"][0]["status"] == "paused"


async def test_keep_alive_and_deleted_events(hub: FakeHub, run_manager: ManagerFactory) -> None:
    hub.add_repo("sse/keep", {"config.json": b"{}"})
    async with run_manager(sse_keepalive_s=0.1) as m:
        job = await m.start("sse/keep", force=True)  # a config alone is no model
        await m.wait(job["id"], "completed")
        async with await open_stream(m, "/api/downloads/events") as response:
            reader = EventReader(response)
            _id, snapshot = await reader.next()
            assert snapshot == {"type": "snapshot", "jobs": []}  # only active jobs
            await m.client.delete(f"/api/downloads/{job['id']}")
            _id, deleted = await reader.next()
            assert deleted == {"type": "deleted", "job_id": job["id"]}
            async with asyncio.timeout(5):
                line = await anext(reader.lines)
                while line == "":
                    line = await anext(reader.lines)
            assert line == ": keep-alive"
