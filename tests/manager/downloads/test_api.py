"""The download API end to end: the manager on loopback, the fake Hub, real files and SQLite."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import scan_cache_dir, snapshot_download

from manager.downloads.cache import RepoCache
from manager.downloads.partial import open_for_append
from manager.downloads.preflight import DiskUsage
from modelyard_dev.fake_hub import FakeHub
from tests.manager.downloads.conftest import TINY, Manager, ManagerFactory
from tests.manager.downloads.test_engine import FullDisk

BIG = 2 * 1024 * 1024 + 777


def metric(manager: Manager, name: str, **labels: str) -> float:
    value = manager.app.state.metrics.registry.get_sample_value(f"modelyard_manager_{name}", labels)
    return value or 0.0


LLAMA = b'{"model_type": "llama"}'  # a config.json the compatibility check can judge


def add_model(hub: FakeHub, repo_id: str, size: int = BIG, seed: int = 1) -> None:
    """A small MLX-style repo whose weights are one generated LFS file."""
    hub.add_repo(repo_id, {"config.json": LLAMA + b"\n", "README.md": b"# x\n"})
    hub.add_big_file(repo_id, "model.safetensors", size, seed=seed)


def throttle(hub: FakeHub, repo_id: str, bps: int = 1_500_000) -> None:
    hub.set_fault(path_glob=f"{repo_id}/*", throttle_bps=bps)


async def unthrottle(m: Manager, hub: FakeHub, job_id: str) -> None:
    """Lift the throttle at once: pause (ends the slow response), reset, resume."""
    await m.client.post(f"/api/downloads/{job_id}/pause")
    hub.reset_faults()
    await m.client.post(f"/api/downloads/{job_id}/resume")


def partial_sizes(cache: Path, repo_id: str) -> list[int]:
    blobs = cache / ("models--" + repo_id.replace("/", "--")) / "blobs"
    return [p.stat().st_size for p in blobs.glob("*.incomplete")] if blobs.is_dir() else []


async def test_full_download_is_a_standard_cache_entry(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    async with run_manager() as m:
        job = await m.start(TINY)
        assert job["status"] == "queued"
        assert uuid.UUID(job["id"])
        done = await m.wait(job["id"], "completed", "failed")
        assert done["status"] == "completed", done["error"]
        cache = m.settings.hub_cache
        assert metric(m, "downloads_finished_total", status="completed") == 1
        assert metric(m, "download_bytes_total") == done["bytes_total"]
    repo = hub.repo(TINY)
    assert done["commit"] == repo.sha
    assert sorted(f["path"] for f in done["files"]) == sorted(repo.files)
    assert done["bytes_done"] == done["bytes_total"] == sum(f.size for f in repo.files.values())
    assert done["files_done"] == done["files_total"] == len(repo.files)
    assert all(f["status"] == "completed" for f in done["files"])
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    info = scan_cache_dir(cache)
    assert info.warnings == []
    (entry,) = info.repos
    assert entry.repo_id == TINY
    assert entry.size_on_disk == done["bytes_total"]
    (revision,) = entry.revisions
    assert revision.commit_hash == repo.sha and revision.refs == frozenset({"main"})
    folder = snapshot_download(TINY, cache_dir=cache, local_files_only=True)
    assert Path(folder) == cache / "models--org--tiny" / "snapshots" / repo.sha
    for path, file in repo.files.items():
        assert (Path(folder) / path).is_symlink()
        assert (Path(folder) / path).read_bytes() == file.read(0, file.size)
    assert partial_sizes(cache, TINY) == []


async def test_same_model_twice_is_one_job_and_complete_is_200(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/dedupe")
    throttle(hub, "dl/dedupe")
    async with run_manager() as m:
        first, second = await asyncio.gather(m.start("dl/dedupe"), m.start("dl/dedupe"))
        assert first["id"] == second["id"]
        third = await m.start("dl/dedupe")
        assert third["id"] == first["id"]
        await unthrottle(m, hub, first["id"])
        done = await m.wait(first["id"], "completed", "failed")
        assert done["status"] == "completed"
        gets = hub.stats.file("dl/dedupe", "model.safetensors").get
        again = await m.start("dl/dedupe", expect=200)
        assert again["status"] == "completed"
        assert again["id"] == first["id"]
        assert again["bytes_done"] == again["bytes_total"]
        listed = (await m.client.get("/api/downloads")).json()
        assert listed["total"] == 1
    assert hub.stats.file("dl/dedupe", "model.safetensors").get == gets


async def test_a_request_right_after_completion_is_200(
    hub: FakeHub, run_manager: ManagerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduction: a job showed ``completed`` while its end was still being saved; a
    ``POST /api/downloads`` of the same model in that moment answered 202 with the finished
    job (as if it were still running) instead of 200 (seen as a flaky test on a busy
    machine). The save is slowed down here so the moment is wide."""
    add_model(hub, "dl/quick-again")
    async with run_manager() as m:
        real_save = m.downloads._save
        gate = asyncio.Event()

        async def slow_save(live: Any, **kwargs: Any) -> None:
            if live.status == "completed":
                await gate.wait()
            await real_save(live, **kwargs)

        monkeypatch.setattr(m.downloads, "_save", slow_save)
        job = await m.start("dl/quick-again")
        await m.wait(job["id"], "completed")
        again = asyncio.create_task(
            m.client.post("/api/downloads", json={"model_id": "dl/quick-again"})
        )
        await asyncio.sleep(0.2)
        gate.set()
        response = await again
        assert response.status_code == 200, response.text
        assert response.json()["id"] == job["id"]


async def test_already_in_cache_from_another_tool_is_200_with_nothing_transferred(
    hub: FakeHub, hub_url: str, run_manager: ManagerFactory, make_settings: Any
) -> None:
    hub.add_repo("dl/present", {"config.json": LLAMA, "model.safetensors": b"w" * 4096})
    cache = make_settings().hub_cache
    await asyncio.to_thread(snapshot_download, "dl/present", cache_dir=cache, endpoint=hub_url)
    hub.reset_stats()
    async with run_manager() as m:
        job = await m.start("dl/present", expect=200)
    assert job["status"] == "completed" and job["bytes_transferred"] == 0
    # Only config.json is read, by the compatibility check; no weights move.
    assert hub.stats.file("dl/present", "model.safetensors").get == 0
    assert hub.stats.gets == hub.stats.file("dl/present", "config.json").get == 1


async def test_jobs_beyond_the_limit_wait_in_the_queue(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/q1", size=1_000_000, seed=2)
    add_model(hub, "dl/q2", size=1_000_000, seed=3)
    throttle(hub, "dl/q1", 800_000)
    async with run_manager(max_concurrent_downloads=1) as m:
        one = await m.start("dl/q1")
        two = await m.start("dl/q2")
        await m.wait(one["id"], "downloading")
        assert (await m.job(two["id"]))["status"] == "queued"
        assert metric(m, "downloads_active") == 1 and metric(m, "downloads_queued") == 1
        queued = (await m.client.get("/api/downloads", params={"status": "queued"})).json()
        assert [j["id"] for j in queued["downloads"]] == [two["id"]]
        await unthrottle(m, hub, one["id"])
        assert (await m.wait(one["id"], "completed", "failed"))["status"] == "completed"
        assert (await m.wait(two["id"], "completed", "failed"))["status"] == "completed"
        assert metric(m, "downloads_active") == 0 and metric(m, "downloads_queued") == 0


async def test_pause_keeps_partials_and_resume_continues_with_range(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/pause", seed=4)
    throttle(hub, "dl/pause")
    async with run_manager() as m:
        job = await m.start("dl/pause")
        await m.wait(job["id"], until=lambda j: j["bytes_done"] > 200_000)
        paused = (await m.client.post(f"/api/downloads/{job['id']}/pause")).json()
        assert paused["status"] == "paused"
        cache = m.settings.hub_cache
        (kept,) = partial_sizes(cache, "dl/pause")
        assert 0 < kept < BIG
        again = (await m.client.post(f"/api/downloads/{job['id']}/pause")).json()
        assert again["status"] == "paused"  # idempotent
        await asyncio.sleep(0.3)
        assert partial_sizes(cache, "dl/pause") == [kept]  # nothing moves while paused
        assert (await m.job(job["id"]))["bytes_done"] >= kept
        hub.reset_faults()
        resumed = (await m.client.post(f"/api/downloads/{job['id']}/resume")).json()
        assert resumed["status"] in ("queued", "downloading")
        done = await m.wait(job["id"], "completed", "failed")
        assert done["status"] == "completed"
    stats = hub.stats.file("dl/pause", "model.safetensors")
    assert stats.ranges == [f"bytes={kept}-"]
    assert stats.bytes_sent <= BIG + 128 * 1024


async def test_cancel_stops_the_transfer_and_removes_partials(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/cancel", seed=5)
    throttle(hub, "dl/cancel")
    async with run_manager() as m:
        job = await m.start("dl/cancel")
        await m.wait(job["id"], until=lambda j: j["bytes_done"] > 100_000)
        response = await m.client.delete(f"/api/downloads/{job['id']}")
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        cache = m.settings.hub_cache
        assert not (cache / "models--dl--cancel").exists()
        sent = hub.stats.file("dl/cancel", "model.safetensors").bytes_sent
        assert sent < BIG
        for _ in range(100):
            if hub.stats.file("dl/cancel", "model.safetensors").disconnects:
                break
            await asyncio.sleep(0.02)
        assert hub.stats.file("dl/cancel", "model.safetensors").disconnects == 1
        assert metric(m, "downloads_finished_total", status="cancelled") == 1
        # Cancelled jobs stay in the history until deleted.
        assert (await m.job(job["id"]))["status"] == "cancelled"
        conflict = await m.client.post(f"/api/downloads/{job['id']}/resume")
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "CONFLICT"
        assert (await m.client.delete(f"/api/downloads/{job['id']}")).status_code == 204
        assert (await m.client.get(f"/api/downloads/{job['id']}")).status_code == 404


async def test_cancel_a_paused_job_removes_its_partials(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/pcancel", seed=6)
    throttle(hub, "dl/pcancel")
    async with run_manager() as m:
        job = await m.start("dl/pcancel")
        await m.wait(job["id"], until=lambda j: j["bytes_done"] > 100_000)
        await m.client.post(f"/api/downloads/{job['id']}/pause")
        assert partial_sizes(m.settings.hub_cache, "dl/pcancel")
        cancelled = (await m.client.delete(f"/api/downloads/{job['id']}")).json()
        assert cancelled["status"] == "cancelled"
        assert partial_sizes(m.settings.hub_cache, "dl/pcancel") == []


async def test_history_is_listed_filtered_and_deleted(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    for i in range(3):
        hub.add_repo(f"dl/hist{i}", {"config.json": LLAMA, "model.safetensors": b"h" * 2000})
    async with run_manager() as m:
        ids = []
        for i in range(3):
            job = await m.start(f"dl/hist{i}")
            await m.wait(job["id"], "completed")
            ids.append(job["id"])
        page = (await m.client.get("/api/downloads", params={"limit": 2})).json()
        assert page["total"] == 3
        assert [j["id"] for j in page["downloads"]] == ids[::-1][:2]  # newest first
        rest = (await m.client.get("/api/downloads", params={"limit": 2, "offset": 2})).json()
        assert [j["id"] for j in rest["downloads"]] == [ids[0]]
        none = (await m.client.get("/api/downloads", params={"status": "failed"})).json()
        assert none == {"downloads": [], "total": 0}
        assert (await m.client.delete(f"/api/downloads/{ids[1]}")).status_code == 204
        after = (await m.client.get("/api/downloads")).json()
        assert [j["id"] for j in after["downloads"]] == [ids[2], ids[0]]
        # The model itself stays: deleting history is not deleting the model.
        assert RepoCache(m.settings.hub_cache, "dl/hist1").folder.is_dir()


async def test_history_is_capped(hub: FakeHub, run_manager: ManagerFactory) -> None:
    for i in range(3):
        hub.add_repo(f"dl/cap{i}", {"config.json": b"{}"})
    async with run_manager(download_history_max=2) as m:
        for i in range(3):
            # A config alone is no model: forced past the compatibility check.
            await m.wait((await m.start(f"dl/cap{i}", force=True))["id"], "completed")
        listed = (await m.client.get("/api/downloads")).json()
        assert [j["model_id"] for j in listed["downloads"]] == ["dl/cap2", "dl/cap1"]


async def test_not_enough_disk_is_refused_with_507(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/disk", seed=7)
    async with run_manager(disk_reserve_gb=10**9) as m:
        response = await m.client.post("/api/downloads", json={"model_id": "dl/disk"})
        assert response.status_code == 507
        error = response.json()["error"]
        assert error["code"] == "INSUFFICIENT_STORAGE"
        assert error["details"]["model_id"] == "dl/disk"
        assert error["details"]["required_space"] > error["details"]["available_space"]
        assert error["details"]["required_space"] >= BIG + 10**18
        assert error["resolution_steps"]
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
    assert hub.stats.file("dl/disk", "model.safetensors").get == 0


async def test_free_space_seam_counts_only_missing_bytes(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/space", seed=8)
    async with run_manager() as m:
        m.downloads.disk_usage = lambda _path: DiskUsage(10**9, 10**9 - BIG, BIG - 1)
        refused = await m.client.post("/api/downloads", json={"model_id": "dl/space"})
        assert refused.status_code == 507
        assert refused.json()["error"]["details"]["available_space"] == BIG - 1
        m.downloads.disk_usage = lambda _path: DiskUsage(10**9, 0, BIG + 100)
        job = await m.start("dl/space")
        assert (await m.wait(job["id"], "completed", "failed"))["status"] == "completed"


async def test_disk_full_mid_download_fails_then_resumes(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/enospc", seed=9)
    async with run_manager() as m:
        m.downloads.engine.opener = lambda path: FullDisk(path, 1_000_000)  # type: ignore[assignment,return-value]
        job = await m.start("dl/enospc")
        failed = await m.wait(job["id"], "failed", "completed")
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "INSUFFICIENT_STORAGE"
        assert failed["error"]["resolution_steps"]
        # The weights stopped at the full disk; a sibling cut off by the failure may keep
        # its own (small) partial too: both are resumed, not restarted.
        assert max(partial_sizes(m.settings.hub_cache, "dl/enospc")) == 1_000_000
        assert metric(m, "downloads_finished_total", status="failed") == 1
        m.downloads.engine.opener = open_for_append  # back to the real disk
        resumed = await m.client.post(f"/api/downloads/{job['id']}/resume")
        assert resumed.status_code == 200 and resumed.json()["error"] is None
        assert (await m.wait(job["id"], "completed", "failed"))["status"] == "completed"
    assert hub.stats.file("dl/enospc", "model.safetensors").ranges == ["bytes=1000000-"]


async def test_corrupt_bytes_fail_the_job_clearly_with_nothing_usable(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/corrupt", size=500_000, seed=10)
    hub.set_fault(path_glob="dl/corrupt/model.safetensors", corrupt=True)
    async with run_manager() as m:
        job = await m.start("dl/corrupt")
        failed = await m.wait(job["id"], "failed", "completed")
        assert failed["status"] == "failed"
        error = failed["error"]
        assert error["code"] == "CHECKSUM_MISMATCH"
        assert "model.safetensors" in error["message"]
        cache = m.settings.hub_cache
        assert not RepoCache(cache, "dl/corrupt").snapshot(failed["commit"]).exists()
        assert not (RepoCache(cache, "dl/corrupt").folder / "refs").exists()
        hub.reset_faults()
        await m.client.post(f"/api/downloads/{job['id']}/resume")
        assert (await m.wait(job["id"], "completed", "failed"))["status"] == "completed"


async def test_resume_right_after_a_failure_resumes(
    hub: FakeHub, run_manager: ManagerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduction: a job that failed showed ``failed`` while its end was still being saved;
    ``POST /resume`` sent in that moment answered 200 with the job still ``failed`` and
    resumed nothing (seen as a flaky corrupt-bytes test on a busy machine). The save is
    slowed down here so the moment is wide."""
    add_model(hub, "dl/quick-resume", size=200_000, seed=12)
    hub.set_fault(path_glob="dl/quick-resume/model.safetensors", corrupt=True)
    async with run_manager() as m:
        real_save = m.downloads._save
        gate = asyncio.Event()

        async def slow_save(live: Any, **kwargs: Any) -> None:
            if live.status == "failed":
                await gate.wait()
            await real_save(live, **kwargs)

        monkeypatch.setattr(m.downloads, "_save", slow_save)
        job = await m.start("dl/quick-resume")
        await m.wait(job["id"], "failed")
        hub.reset_faults()
        resume = asyncio.create_task(m.client.post(f"/api/downloads/{job['id']}/resume"))
        await asyncio.sleep(0.2)
        gate.set()
        response = await resume
        assert response.status_code == 200, response.text
        assert response.json()["status"] in ("queued", "downloading", "verifying", "completed")
        done = await m.wait(job["id"], "completed", "failed")
        assert done["status"] == "completed"


async def test_gated_model_fails_at_once_with_steps(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    hub.add_repo("dl/gated", {"config.json": LLAMA, "model.safetensors": b"g" * 5000}, gated=True)
    async with run_manager() as m:
        job = await m.start("dl/gated")
        failed = await m.wait(job["id"], "failed", "completed")
        assert failed["error"]["code"] == "HUB_ACCESS_DENIED"
        assert any("HF_TOKEN" in step for step in failed["error"]["resolution_steps"])
        assert metric(m, "download_retries_total", reason="http_401") == 0


async def test_gated_model_with_a_valid_token_downloads(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    hub.add_repo(
        "dl/gated-ok", {"config.json": LLAMA, "model.safetensors": b"g" * 5000}, gated=True
    )
    async with run_manager(hf_token="hf_good_token") as m:
        job = await m.start("dl/gated-ok")
        assert (await m.wait(job["id"], "failed", "completed"))["status"] == "completed"


async def test_missing_file_fails_at_once(hub: FakeHub, run_manager: ManagerFactory) -> None:
    add_model(hub, "dl/404", size=10_000, seed=11)
    hub.fail_next(1, status=404, path_glob="dl/404/model.safetensors")
    async with run_manager() as m:
        failed = await m.wait((await m.start("dl/404"))["id"], "failed", "completed")
        assert failed["error"]["code"] == "model_not_found"
    assert hub.stats.file("dl/404", "model.safetensors").get == 1


async def test_transient_errors_are_retried_to_completion(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/flaky", seed=12)
    async with run_manager() as m:
        # The compatibility check reads the Hub's description first (cached): read it before
        # the faults, so that they hit the download itself.
        assert (await m.client.get("/api/hub/models/dl/flaky")).status_code == 200
        hub.fail_next(2, status=502, path_glob="dl/flaky/model.safetensors")
        hub.fail_next(1, status=429, retry_after=0.1, path_glob="dl/flaky/config.json")
        hub.drop_after_bytes(1_000_000, times=1, path_glob="dl/flaky/model.safetensors")
        hub.fail_next(1, status=503, target="api")
        done = await m.wait((await m.start("dl/flaky"))["id"], "failed", "completed")
        assert done["status"] == "completed", done["error"]
        assert metric(m, "download_retries_total", reason="http_502") == 2
        assert metric(m, "download_retries_total", reason="http_429") == 1
    assert hub.stats.file("dl/flaky", "model.safetensors").bytes_sent <= BIG + 128 * 1024


BAD_BODIES = [
    ({"model_id": "no-slash"}, "model_id"),
    ({"model_id": "org/../etc"}, "model_id"),
    ({"model_id": "org/na me"}, "model_id"),
    ({"model_id": "a/b/c"}, "model_id"),
    ({"model_id": "org/x--y"}, "model_id"),
    ({"model_id": "org/x", "revision": "a..b"}, "revision"),
    ({"model_id": "org/x", "revision": "/main"}, "revision"),
    ({"model_id": "org/x", "format": "pickle"}, "format"),
    ({"model_id": "org/x", "allow_patterns": [""]}, "allow_patterns.0"),
]


async def test_bad_input_is_400(run_manager: ManagerFactory) -> None:
    async with run_manager() as m:
        for body, param in BAD_BODIES:
            response = await m.client.post("/api/downloads", json=body)
            assert response.status_code == 400, body
            assert response.json()["error"]["param"] == param, body


async def test_unknown_things_are_404_and_patterns_matching_nothing_400(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    async with run_manager() as m:
        unknown = await m.client.post("/api/downloads", json={"model_id": "org/nope"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "model_not_found"
        revision = await m.client.post(
            "/api/downloads", json={"model_id": TINY, "revision": "no-such-branch"}
        )
        assert revision.status_code == 404
        assert revision.json()["error"]["param"] == "revision"
        nothing = await m.client.post(
            "/api/downloads", json={"model_id": TINY, "allow_patterns": ["*.gguf"]}
        )
        assert nothing.status_code == 400
        assert "config.json" in nothing.json()["error"]["details"]["files"]
        job_id = uuid.uuid4()
        for method, path in [
            ("GET", f"/api/downloads/{job_id}"),
            ("POST", f"/api/downloads/{job_id}/pause"),
            ("POST", f"/api/downloads/{job_id}/resume"),
            ("DELETE", f"/api/downloads/{job_id}"),
            ("GET", f"/api/downloads/{job_id}/events"),
        ]:
            response = await m.client.request(method, path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "NOT_FOUND"
        bad = await m.client.get("/api/downloads/not-a-uuid")
        assert bad.status_code == 404  # job ids are UUIDs: no such resource
        assert bad.json()["error"]["code"] == "NOT_FOUND"


async def test_selected_patterns_only(hub: FakeHub, run_manager: ManagerFactory) -> None:
    async with run_manager() as m:
        # JSON files alone cannot run: forced, and the job says so.
        job = await m.start(TINY, allow_patterns=["*.json"], revision="main", force=True)
        assert job["warning"]["code"] == "model_not_servable"
        done = await m.wait(job["id"], "completed", "failed")
    assert done["allow_patterns"] == ["*.json"]
    assert {f["path"] for f in done["files"]} == {
        p for p in hub.repo(TINY).files if p.endswith(".json")
    }
    assert hub.stats.file(TINY, "model.safetensors").get == 0


async def test_interrupted_jobs_continue_after_a_restart(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    add_model(hub, "dl/restart", seed=13)
    throttle(hub, "dl/restart")
    async with run_manager() as m:
        job = await m.start("dl/restart")
        await m.wait(job["id"], until=lambda j: j["bytes_done"] > 300_000)
    # The manager stopped mid-download; the job is still "downloading" in the database.
    (kept,) = partial_sizes(m.settings.hub_cache, "dl/restart")
    hub.reset_faults()
    async with run_manager() as m2:
        done = await m2.wait(job["id"], "completed", "failed")
        assert done["status"] == "completed"
    stats = hub.stats.file("dl/restart", "model.safetensors")
    assert stats.ranges == [f"bytes={kept}-"]


async def test_unreachable_hub_is_503_in_the_envelope(run_manager: ManagerFactory) -> None:
    async with run_manager(hf_endpoint="http://127.0.0.1:9") as m:
        response = await m.client.post("/api/downloads", json={"model_id": "org/any"})
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE" and error["src"] == "hub"
        assert error["resolution_steps"]
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
