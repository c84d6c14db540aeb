"""Downloads: modelyard's engine vs ``huggingface_hub.snapshot_download``, same loopback Hub.

The fake Hub runs in its own process and serves one repo: a 200 MiB LFS weights file plus the
small files of a tiny model (config, tokenizer, template). Two measurements, one run:

1. Throughput into a fresh cache, median of 3 each, interleaved: the manager's download job
   (the app in this process, POST to "completed") vs ``snapshot_download``.
2. Bytes the Hub sent to finish the repo when the downloader is killed (SIGKILL) at about
   half of the weights and run again: a manager process (restarted; the job continues) vs a
   ``snapshot_download`` process (run again). Reported as a multiple of the repo's size.

Prints one JSON line.

    python bench/downloads.py [--size-mib 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Storage, emit, median
from modelyard_dev.procs import Service, base_env, manager_service

REPO = "bench/model"
WEIGHTS = "model.safetensors"
MIB = 1024 * 1024


@contextlib.contextmanager
def fake_hub(size: int) -> Iterator[str]:
    """The fake Hub in its own process; yields its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelyard_dev.fake_hub",
            "--tiny-model",
            REPO,
            "--big",
            f"{REPO}:{WEIGHTS}:{size}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=base_env(),
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError("the fake Hub did not start")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def hub_stats(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{url}/_fake/stats", timeout=10).json()
    return stats


def reset_hub(url: str) -> None:
    httpx.post(f"{url}/_fake/reset", timeout=10).raise_for_status()


def repo_size(url: str) -> int:
    info = httpx.get(f"{url}/api/models/{REPO}", params={"blobs": "true"}, timeout=10).json()
    return sum(int(s["size"]) for s in info["siblings"])


def sent_for_repo(url: str) -> int:
    files = hub_stats(url)["files"]
    return sum(int(v["bytes_sent"]) for k, v in files.items() if k.startswith(f"{REPO}/"))


# --------------------------------------------------------------------------------------------
# Throughput


async def modelyard_once(url: str, root: Path) -> float:
    """Seconds from POST /api/downloads to a completed job, the app in this process."""
    from manager.app import create_app
    from manager.settings import ManagerSettings

    storage = Storage.under(root)
    settings = ManagerSettings(  # in this process: the shared folders, given directly
        hf_endpoint=url,
        hf_cache_dir=storage.hub,
        data_dir=storage.home,
        disk_reserve_gb=0,
        inference_url="http://127.0.0.1:9",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            # Watch the job's events rather than poll it: no extra work for the manager.
            events = app.state.downloads.events.subscribe()
            started = time.perf_counter()
            response = await client.post("/api/downloads", json={"model_id": REPO})
            response.raise_for_status()
            job_id = response.json()["id"]
            while True:
                event = await events.queue.get()
                data = json.loads(getattr(event, "data", "{}"))
                job = data.get("job") or {}
                if job.get("id") == job_id and job.get("status") in ("completed", "failed"):
                    break
            elapsed = time.perf_counter() - started
            app.state.downloads.events.unsubscribe(events)
    if job["status"] != "completed":
        raise RuntimeError(f"modelyard download failed: {job['error']}")
    return elapsed


def hf_once(url: str, root: Path) -> float:
    from huggingface_hub import snapshot_download

    started = time.perf_counter()
    snapshot_download(REPO, cache_dir=Storage.under(root).hub, endpoint=url)
    return time.perf_counter() - started


@dataclass
class Runs:
    mb_s: list[float]
    cpu_s: list[float]  # CPU time of this process (all threads) during each run


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def throughput(url: str, runs: int, total: int) -> tuple[Runs, Runs]:
    """Interleaved runs into fresh caches, after one warm-up of each (imports, first
    connections, the Hub's hash cache) that is not counted."""
    ours = Runs([], [])
    theirs = Runs([], [])
    for run in range(runs + 1):
        for which in ("modelyard", "hf"):
            root = Path(tempfile.mkdtemp(prefix="modelyard-bench-dl-"))
            try:
                cpu = _cpu()
                if which == "modelyard":
                    seconds = asyncio.run(modelyard_once(url, root))
                else:
                    seconds = hf_once(url, root)
                cpu = _cpu() - cpu
                if run > 0:
                    into = ours if which == "modelyard" else theirs
                    into.mb_s.append(total / seconds / 1e6)
                    into.cpu_s.append(cpu)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return ours, theirs


# --------------------------------------------------------------------------------------------
# Kill at half, then finish


def manager_proc(url: str, root: Path) -> Service:
    return manager_service(
        {
            **Storage.under(root).env(),
            "MODEL_MANAGER_HF_ENDPOINT": url,
            "MODEL_MANAGER_INFERENCE_URL": "http://127.0.0.1:9",
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
            "MODEL_MANAGER_LOG_LEVEL": "WARNING",
        },
        log_dir=root,
    )


@dataclass
class Killed:
    """One kill-and-finish run, in bytes (``on_disk``: blobs and partials at the kill)."""

    at_kill_fraction: float
    on_disk: int
    sent_before_restart: int
    sent_total: int
    orphaned_partials: int


def blob_sizes(root: Path, pattern: str = "*") -> dict[str, int]:
    """Sizes of the repo's blobs (a partial renamed as it is looked at is skipped)."""
    blobs = Storage.under(root).hub / "models--bench--model" / "blobs"
    sizes = {}
    for path in blobs.glob(pattern) if blobs.is_dir() else []:
        with contextlib.suppress(OSError):
            sizes[path.name] = path.stat().st_size
    return sizes


def on_disk(root: Path) -> int:
    return sum(blob_sizes(root).values())


def weights_partial(root: Path) -> int:
    return max(blob_sizes(root, "*.incomplete").values(), default=0)


def weights_done(root: Path, weights_size: int) -> bool:
    """The weights blob is complete (a small ``--size-mib`` can finish between two polls)."""
    sizes = blob_sizes(root)
    return any(
        size == weights_size and not name.endswith(".incomplete") for name, size in sizes.items()
    )


def orphans(root: Path) -> int:
    return len(
        list((Storage.under(root).hub / "models--bench--model" / "blobs").glob("*.incomplete"))
    )


def modelyard_killed(url: str, root: Path, weights_size: int) -> Killed:
    reset_hub(url)
    first = manager_proc(url, root).start()
    try:
        with httpx.Client(base_url=first.url, timeout=10) as client:
            job_id = client.post("/api/downloads", json={"model_id": REPO}).json()["id"]
        # The same trigger as for snapshot_download: the partial file's size on disk
        # (polling the API instead would load the process being measured).
        while weights_partial(root) < weights_size // 2:
            if weights_done(root, weights_size):
                raise SystemExit("the download finished before half: use a larger --size-mib")
            time.sleep(0.002)
    finally:
        first.kill()
    at_kill = weights_partial(root) / weights_size
    kept = on_disk(root)
    time.sleep(0.3)  # let the Hub notice the dropped connection
    sent_before = sent_for_repo(url)
    second = manager_proc(url, root).start()
    try:
        with httpx.Client(base_url=second.url, timeout=10) as client:
            while True:
                job = client.get(f"/api/downloads/{job_id}").json()
                if job["status"] in ("completed", "failed"):
                    break
                time.sleep(0.02)
    finally:
        second.stop()
    if job["status"] != "completed":
        raise RuntimeError(f"modelyard download failed after restart: {job['error']}")
    return Killed(at_kill, kept, sent_before, sent_for_repo(url), orphans(root))


HF_SCRIPT = (
    "import sys; from huggingface_hub import snapshot_download; "
    "snapshot_download(sys.argv[1], cache_dir=sys.argv[2], endpoint=sys.argv[3])"
)


def hf_killed(url: str, root: Path, weights_size: int) -> Killed:
    reset_hub(url)
    env = base_env()
    command = [sys.executable, "-c", HF_SCRIPT, REPO, str(Storage.under(root).hub), url]
    proc = subprocess.Popen(command, env=env, start_new_session=True)
    at_kill = 0.0
    try:
        while proc.poll() is None:
            size = weights_partial(root)
            if size >= weights_size // 2:
                at_kill = size / weights_size
                break
            time.sleep(0.002)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    kept = on_disk(root)
    time.sleep(0.3)
    sent_before = sent_for_repo(url)
    subprocess.run(command, env=env, check=True)
    return Killed(at_kill, kept, sent_before, sent_for_repo(url), orphans(root))


def killed_report(result: Killed, total: int) -> dict[str, Any]:
    return {
        "killed_at_fraction": round(result.at_kill_fraction, 3),
        "bytes_to_finish_ratio": round(result.sent_total / total, 3),
        # Sent by the Hub before the kill but never on disk: socket buffers (the Hub's and
        # the kernel's) plus whatever the process held in memory.
        "lost_in_flight_mib": round((result.sent_before_restart - result.on_disk) / MIB, 1),
        "orphaned_partials": result.orphaned_partials,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MIB
    with fake_hub(size) as url:
        total = repo_size(url)
        ours, theirs = throughput(url, args.runs, total)
        with tempfile.TemporaryDirectory(prefix="modelyard-bench-dl-") as tmp:
            ours_killed = modelyard_killed(url, Path(tmp), size)
        with tempfile.TemporaryDirectory(prefix="modelyard-bench-dl-") as tmp:
            theirs_killed = hf_killed(url, Path(tmp), size)
    emit(
        {
            "benchmark": "downloads",
            "repo_bytes": total,
            "runs": args.runs,
            "modelyard_mb_s": [round(x, 1) for x in ours.mb_s],
            "snapshot_download_mb_s": [round(x, 1) for x in theirs.mb_s],
            "modelyard_mb_s_median": round(median(ours.mb_s), 1),
            "snapshot_download_mb_s_median": round(median(theirs.mb_s), 1),
            "throughput_ratio": round(median(ours.mb_s) / median(theirs.mb_s), 3),
            # CPU seconds per run (sha256 of every byte is part of modelyard's; the
            # Hub runs in another process and is not counted).
            "modelyard_cpu_s_median": round(median(ours.cpu_s), 2),
            "snapshot_download_cpu_s_median": round(median(theirs.cpu_s), 2),
            "kill_at_half": {
                "modelyard": killed_report(ours_killed, total),
                "snapshot_download": killed_report(theirs_killed, total),
            },
            "targets": {"throughput_ratio": 1.0, "modelyard_bytes_to_finish_ratio": 1.05},
        }
    )


if __name__ == "__main__":
    main()
