"""Two managers on one real PostgreSQL database and one cache folder: a job runs once, its
progress reaches the other manager's subscribers, either manager pauses or cancels it, and a
manager killed mid-download is taken over from its partial file."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.postgres import PostgresServer
from modelyard_dev.procs import Service, manager_service
from tests.manager.downloads.conftest import Manager, ManagerFactory

BIG = 8 * 1024 * 1024 + 777
WEIGHTS = "model.safetensors"
LEASE = {"download_lease_s": 2.0}


def repo_files(hub: FakeHub, repo_id: str) -> dict[str, int]:
    """Each file of the repo's head commit and its size."""
    head = hub.repo(repo_id).resolve("main")
    assert head is not None
    return {path: file.size for path, file in head.files.items()}


def assert_fetched_once(hub: FakeHub, repo_id: str) -> None:
    """Every file was downloaded once (``config.json`` is also read by each request's
    compatibility check, before any job exists)."""
    stats = hub.stats
    for path, size in repo_files(hub, repo_id).items():
        if path == "config.json":
            continue
        file = stats.file(repo_id, path)
        assert file.get == 1, (repo_id, path, file)
        assert file.bytes_sent == size, (repo_id, path, file)


async def test_one_model_asked_of_both_managers_at_once_is_one_job(
    hub: FakeHub, run_manager: ManagerFactory, postgres_url: str
) -> None:
    hub.add_tiny_model("pg/once", seed=3)
    async with (
        run_manager(database_url=postgres_url, **LEASE) as a,
        run_manager(database_url=postgres_url, **LEASE) as b,
    ):
        first, second = await asyncio.gather(a.start("pg/once"), b.start("pg/once"))
        assert first["id"] == second["id"]
        done = await b.wait(first["id"], "completed", "failed")
        listed = (await a.client.get("/api/downloads")).json()
    assert done["status"] == "completed", done["error"]
    assert listed["total"] == 1
    assert_fetched_once(hub, "pg/once")


async def test_many_downloads_on_two_managers_fetch_every_file_once(
    hub: FakeHub, run_manager: ManagerFactory, postgres_url: str
) -> None:
    repos = [f"pg/many-{n}" for n in range(6)]
    for n, repo in enumerate(repos):
        hub.add_tiny_model(repo, seed=10 + n)
    async with (
        run_manager(database_url=postgres_url, max_concurrent_downloads=2, **LEASE) as a,
        run_manager(database_url=postgres_url, max_concurrent_downloads=2, **LEASE) as b,
    ):
        # Every model asked of both managers at once.
        jobs = await asyncio.gather(*(m.start(repo) for repo in repos for m in (a, b)))
        ids = {job["id"] for job in jobs}
        finished = [await a.wait(job_id, "completed", "failed", within=60) for job_id in ids]
    assert len(ids) == len(repos)
    assert {job["status"] for job in finished} == {"completed"}
    for repo in repos:
        assert_fetched_once(hub, repo)


async def read_events(
    manager: Manager, job_id: str, until: str, within: float = 30.0
) -> list[dict[str, Any]]:
    """The events of one job through ``manager`` until its status is ``until``."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        async with manager.client.stream("GET", f"/api/downloads/{job_id}/events") as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                events.append(event)
                jobs = event["jobs"] if event["type"] == "snapshot" else [event.get("job")]
                if any(job and job["status"] == until for job in jobs):
                    return events
    raise AssertionError("unreachable")


async def test_progress_of_a_job_reaches_subscribers_of_the_other_manager(
    hub: FakeHub, run_manager: ManagerFactory, postgres_url: str
) -> None:
    hub.add_big_file("pg/watched", WEIGHTS, BIG, seed=5)
    hub.set_fault(path_glob="pg/watched/*", throttle_bps=1_500_000)
    async with run_manager(database_url=postgres_url, **LEASE) as a:
        job = await a.start("pg/watched", force=True)
        await a.wait(job["id"], "downloading")
        async with run_manager(database_url=postgres_url, **LEASE) as b:
            assert job["id"] not in b.downloads.live_ids()
            events = await read_events(b, job["id"], "completed")
            assert job["id"] not in b.downloads.live_ids()  # it ran on the first one only
    progress = [e["job"]["bytes_done"] for e in events if e["type"] == "progress"]
    assert len(progress) >= 3, events
    assert progress == sorted(progress)
    assert events[-1]["type"] == "status"
    assert events[-1]["job"]["bytes_done"] == BIG
    assert hub.stats.file("pg/watched", WEIGHTS).get == 1


async def bytes_sent_settles(hub: FakeHub, repo: str, *, quiet: float = 1.0) -> int:
    """Wait until the Hub has sent nothing more of the file for ``quiet`` seconds."""
    last = -1
    while True:
        sent = hub.stats.file(repo, WEIGHTS).bytes_sent
        if sent == last:
            return sent
        last = sent
        await asyncio.sleep(quiet)


async def test_pause_resume_and_cancel_through_the_manager_not_running_the_job(
    hub: FakeHub, run_manager: ManagerFactory, postgres_url: str, tmp_path: Path
) -> None:
    hub.add_big_file("pg/steer", WEIGHTS, BIG, seed=6)
    hub.set_fault(path_glob="pg/steer/*", throttle_bps=1_000_000)
    async with run_manager(database_url=postgres_url, **LEASE) as a:
        job = await a.start("pg/steer", force=True)
        await a.wait(job["id"], until=lambda j: j["bytes_done"] > 0)
        async with run_manager(database_url=postgres_url, **LEASE) as b:
            paused = await b.client.post(f"/api/downloads/{job['id']}/pause")
            assert paused.status_code == 200, paused.text
            assert paused.json()["status"] == "paused"
            assert job["id"] not in a.downloads.live_ids()
            sent = await bytes_sent_settles(hub, "pg/steer")
            assert sent < BIG
            assert (await a.job(job["id"]))["status"] == "paused"

            resumed = await b.client.post(f"/api/downloads/{job['id']}/resume")
            assert resumed.status_code == 200, resumed.text
            await b.wait(job["id"], "downloading")
            cancelled = await a.client.delete(f"/api/downloads/{job['id']}")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"
            assert job["id"] not in a.downloads.live_ids() | b.downloads.live_ids()
    blobs = tmp_path / "hf-cache" / "models--pg--steer" / "blobs"
    assert not blobs.exists() or not list(blobs.glob("*"))  # the partial went with the cancel
    # The second run continued the first one's partial file.
    ranges = hub.stats.file("pg/steer", WEIGHTS).ranges
    assert len(ranges) == 1 and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"


# ---- processes --------------------------------------------------------------------------------


def manager_process(hub_url: str, root: Path, database_url: str, name: str) -> Service:
    return manager_service(
        {
            "MODEL_MANAGER_HF_ENDPOINT": hub_url,
            "MODEL_MANAGER_HF_CACHE_DIR": str(root / "hf"),
            "MODEL_MANAGER_DATA_DIR": str(root / name),
            "MODEL_MANAGER_DATABASE_URL": database_url,
            "MODEL_MANAGER_INFERENCE_URL": "http://127.0.0.1:9",
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
            "MODEL_MANAGER_DOWNLOAD_PROGRESS_INTERVAL_S": "0.05",
            "MODEL_MANAGER_DOWNLOAD_LEASE_S": "2",
            "MODEL_MANAGER_LOG_LEVEL": "WARNING",
        },
        log_dir=root,
    )


def wait_job(url: str, job_id: str, ok: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            job: dict[str, Any] = client.get(f"/api/downloads/{job_id}").json()
            if ok(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out: {job}")
            time.sleep(0.05)


@pytest.mark.slow
async def test_sigkill_one_manager_mid_download_the_other_resumes_its_partial_file(
    hub: FakeHub, hub_url: str, tmp_path: Path, postgres: PostgresServer, postgres_url: str
) -> None:
    size = 16 * 1024 * 1024 + 4321
    hub.add_big_file("pg/killed", WEIGHTS, size, seed=7)
    hub.set_fault(path_glob="pg/killed/*", throttle_bps=2_000_000)
    services = [manager_process(hub_url, tmp_path, postgres_url, name) for name in "ab"]
    database = postgres_url.rsplit("/", 1)[1]
    await asyncio.gather(*(asyncio.to_thread(service.start) for service in services))
    try:
        async with httpx.AsyncClient(base_url=services[0].url) as client:
            # Weights alone, no config.json: forced past the compatibility check.
            body = {"model_id": "pg/killed", "force": True}
            response = await client.post("/api/downloads", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        await asyncio.to_thread(
            wait_job, services[1].url, job_id, lambda j: j["bytes_done"] >= size // 4
        )
        # The holder is named host-pid-random: kill that process, mid-file.
        holder = postgres.psql(
            f"SELECT lease_holder FROM download_jobs WHERE id = '{job_id}'", database
        )
        (running,) = [s for s in services if f"-{s.pid}-" in holder]
        (other,) = [s for s in services if s is not running]
        running.kill()
        (partial,) = (tmp_path / "hf" / "models--pg--killed" / "blobs").glob("*.incomplete")
        kept = partial.stat().st_size
        assert 0 < kept < size
        hub.reset_faults()
        done = await asyncio.to_thread(
            wait_job, other.url, job_id, lambda j: j["status"] in ("completed", "failed")
        )
    finally:
        for service in services:
            service.stop()
    assert done["status"] == "completed", done["error"]
    stats = hub.stats.file("pg/killed", WEIGHTS)
    assert stats.ranges == [f"bytes={kept}-"]
    assert stats.bytes_sent <= size * 1.05
    snapshot = tmp_path / "hf" / "models--pg--killed" / "snapshots" / done["commit"]
    assert (snapshot / WEIGHTS).stat().st_size == size


async def test_two_managers_register_the_models_of_their_shared_disk_at_once(
    run_manager: ManagerFactory, postgres_url: str, tmp_path: Path
) -> None:
    """Reproduction: two managers on one PostgreSQL database list the same disk for the first
    time together; both insert the library row of each model, and the second insert used to
    fail the request (primary key) instead of finding the row there."""
    from modelyard_dev.tiny_model import install_in_cache

    async with (
        run_manager(database_url=postgres_url) as a,
        run_manager(database_url=postgres_url) as b,
    ):
        for n in range(3):
            install_in_cache(tmp_path / "hf-cache", f"shared/disk-{n}", seed=n)
        answers = await asyncio.gather(*(m.client.get("/api/models/local") for m in (a, b, a, b)))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert sorted(m["id"] for m in answer.json()["data"]) == [
            "shared/disk-0",
            "shared/disk-1",
            "shared/disk-2",
        ]
