"""The web UI in Chromium: time to interactive, asset bytes, frames per second under load.

Setup, in one run: a fake Hub (its own process) with 1,530 repos (``bench/hub_search.py``'s
51 families of 30) and one large repo; 500 models in the Hugging Face cache
(``bench/catalog.py``'s generator); the inference server and the manager on that cache;
Debian's Chromium driven by Playwright (headless, a fresh browser context per load: nothing
cached).

- Library: 10 loads of ``/#/library``. Time to interactive is the UI's own mark
  (``modelyard:ready:library``: the 500 rows are in the page and their buttons work), from
  the start of the navigation; "after the API" subtracts the end of the
  ``/api/models/local`` response (Resource Timing), so it is the UI's own share.
- Search: 10 loads of ``/#/discover?q=famNN`` (a different query each time, so every search
  reaches the Hub), 20 result cards; the same two figures against ``/api/hub/search``, and
  the time until every card's "will it run here?" verdict has arrived (fetched after the
  cards are shown), with the number of API calls that brought the verdicts.
- Asset bytes: what the first page transfers for its own files (the page, the stylesheet,
  every module; gzip on the wire), from Resource Timing, and the uncompressed size.
- Frames per second: ``requestAnimationFrame`` callbacks counted on the Downloads page while
  a ``--big-mib`` download runs at full speed (progress events over SSE), against the same
  page idle for as long, in the same run.

Targets: library <= 500 ms and search <= 300 ms after the API answers; first-page assets
<= 150 KB gzip; >= 50 frames/s during the download. Prints one JSON line.

    python bench/ui.py [--loads 10] [--big-mib 1024]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Storage, emit, percentile, require_shared_storage
from bench.catalog import generate
from modelyard_dev.procs import base_env, inference_service, manager_service, running

MIB = 1024 * 1024
BIG_REPO = "bench/big-download"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGETS = {
    "library_after_api_ms": 500.0,
    "search_after_api_ms": 300.0,
    "first_page_gzip_bytes": 150 * 1024,
    "download_fps": 50.0,
}

# (mark, API path prefix) -> {ready_ms, api_end_ms} from the page's own timings.
TIMINGS_JS = """([mark, api]) => {
  const ready = performance.getEntriesByName(mark)[0];
  const calls = performance.getEntriesByType('resource').filter(
    (e) => new URL(e.name).pathname.startsWith(api));
  return {ready_ms: ready ? ready.startTime : null,
          api_end_ms: calls.length ? calls[0].responseEnd : null};
}"""
ASSETS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const own = performance.getEntriesByType('resource').filter(
    (e) => new URL(e.name).pathname.startsWith('/ui/'));
  return {
    count: own.length,
    encoded: nav.encodedBodySize + own.reduce((n, e) => n + e.encodedBodySize, 0),
    decoded: nav.decodedBodySize + own.reduce((n, e) => n + e.decodedBodySize, 0),
  };
}"""
VERDICT_CALLS_JS = """() => performance.getEntriesByType('resource').filter((e) => {
  const url = new URL(e.name);
  return url.pathname.startsWith('/api/models/compatibility/')
    || (url.pathname === '/api/hub/search' && url.searchParams.get('verdicts') === 'true');
}).length"""
COUNT_FRAMES_JS = """() => {
  window.__frames = [];
  const tick = (t) => { window.__frames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""
FPS_JS = """([from, to]) => {
  const frames = window.__frames.filter((t) => t >= from && t <= to);
  return frames.length > 1 ? (frames.length - 1) * 1000 / (frames[frames.length - 1] - frames[0]) : 0;
}"""


def serve_hub(big_bytes: int) -> None:
    """Child process: build the Hub, print its URL, serve until killed."""
    from bench.hub_search import build_hub

    hub = build_hub(51, 30)
    hub.add_tiny_model(BIG_REPO)
    hub.add_big_file(BIG_REPO, "model.safetensors", big_bytes, seed=7)
    with hub.serve() as url:
        print(url, flush=True)
        while True:
            time.sleep(3600)


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium not found: apt-get install chromium")


def load_times(browser: Any, url: str, mark: str, api: str, wait_verdicts: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(f"() => performance.getEntriesByName('{mark}').length > 0")
        out: dict[str, Any] = page.evaluate(TIMINGS_JS, [mark, api])
        if wait_verdicts:
            page.wait_for_function(
                "() => !document.querySelector('.verdict-slot .badge.muted')", timeout=120_000
            )
            out["verdicts_ms"] = page.evaluate("() => performance.now()")
            out["verdict_calls"] = page.evaluate(VERDICT_CALLS_JS)
        out["assets"] = page.evaluate(ASSETS_JS)
        return out
    finally:
        context.close()


def fps_window(page: Any, seconds: float) -> float:
    start = page.evaluate("() => performance.now()")
    time.sleep(seconds)
    end = page.evaluate("() => performance.now()")
    return float(page.evaluate(FPS_JS, [start, end]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--serve-hub", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hub is not None:
        serve_hub(args.serve_hub)
        return

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-ui-") as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        generate(storage.hub, args.models)
        hub_proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-hub", str(args.big_mib * MIB)],
            stdout=subprocess.PIPE,
            env=base_env(),
            text=True,
        )
        try:
            assert hub_proc.stdout is not None
            hub_url = hub_proc.stdout.readline().strip()
            if not hub_url.startswith("http"):
                raise SystemExit("the fake Hub did not start")
            inference = inference_service(storage.env(), log_dir=root)
            manager = manager_service(
                {
                    **storage.env(),
                    "MODEL_MANAGER_INFERENCE_URL": inference.url,
                    "MODEL_MANAGER_HF_ENDPOINT": hub_url,
                    "MODEL_MANAGER_DISK_RESERVE_GB": "0",
                    "MODEL_MANAGER_LOG_LEVEL": "WARNING",
                    "HF_HUB_DISABLE_XET": "1",
                },
                log_dir=root,
            )
            with running(inference, manager), sync_playwright() as p:
                require_shared_storage(manager.url)
                browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                result = measure(browser, manager.url, args)
                browser.close()
        finally:
            hub_proc.kill()
            hub_proc.wait()
    emit(result)


def measure(browser: Any, base: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    # One warm-up load of each (the manager's first scan, Python's first imports).
    load_times(browser, f"{base}/#/library", "modelyard:ready:library", "/api/models/local", False)
    load_times(
        browser, f"{base}/#/discover?q=fam50", "modelyard:ready:results", "/api/hub/search", False
    )
    library: list[dict[str, Any]] = []
    search: list[dict[str, Any]] = []
    for i in range(args.loads):
        library.append(
            load_times(
                browser, f"{base}/#/library", "modelyard:ready:library", "/api/models/local", False
            )
        )
        search.append(
            load_times(
                browser,
                f"{base}/#/discover?q=fam{i:02d}",
                "modelyard:ready:results",
                "/api/hub/search",
                True,
            )
        )
    rows = httpx.get(f"{base}/api/models/local", timeout=30).json()["data"]

    # Frames per second on the Downloads page: idle, then during a full-speed download.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/#/downloads")
    page.wait_for_selector('main[data-ready="downloads"]')
    page.evaluate(COUNT_FRAMES_JS)
    idle_fps = fps_window(page, 3.0)
    job = httpx.post(f"{base}/api/downloads", json={"model_id": BIG_REPO}, timeout=30).json()
    page.wait_for_selector(
        f'li[data-job="{job["id"]}"] [data-status="downloading"]', timeout=60_000
    )
    started = time.perf_counter()
    t0 = page.evaluate("() => performance.now()")
    page.wait_for_selector(
        f'li[data-job="{job["id"]}"] [data-status="verifying"], li[data-job="{job["id"]}"] [data-status="completed"]',
        timeout=600_000,
    )
    t1 = page.evaluate("() => performance.now()")
    download_s = time.perf_counter() - started
    download_fps = float(page.evaluate(FPS_JS, [t0, t1]))
    page.wait_for_selector(f'li[data-job="{job["id"]}"] [data-status="completed"]', timeout=600_000)
    final = httpx.get(f"{base}/api/downloads/{job['id']}", timeout=30).json()
    context.close()

    def p50(items: list[dict[str, Any]], key: str) -> float:
        return round(percentile([float(x[key]) for x in items], 50), 1)

    for items in (library, search):
        for x in items:
            x["after_api_ms"] = x["ready_ms"] - x["api_end_ms"]
    assets = library[0]["assets"]
    result: dict[str, Any] = {
        "benchmark": "ui",
        "loads": args.loads,
        "library_models": len(rows),
        "hub_repos": 51 * 30 + 1,
        "library_tti_p50_ms": p50(library, "ready_ms"),
        "library_api_end_p50_ms": p50(library, "api_end_ms"),
        "library_after_api_p50_ms": p50(library, "after_api_ms"),
        "search_tti_p50_ms": p50(search, "ready_ms"),
        "search_api_end_p50_ms": p50(search, "api_end_ms"),
        "search_after_api_p50_ms": p50(search, "after_api_ms"),
        "search_verdicts_p50_ms": p50(search, "verdicts_ms"),
        "search_verdict_calls_p50": p50(search, "verdict_calls"),
        "first_page_files": assets["count"] + 1,
        "first_page_gzip_bytes": assets["encoded"],
        "first_page_raw_bytes": assets["decoded"],
        "idle_fps": round(idle_fps, 1),
        "download_fps": round(download_fps, 1),
        "download_mib": args.big_mib,
        "download_seconds": round(download_s, 2),
        "download_mb_per_s": round(final["bytes_total"] / 1e6 / download_s, 1),
        "download_status": final["status"],
        "targets": TARGETS,
    }
    result["library_after_api_ratio"] = round(
        result["library_after_api_p50_ms"] / TARGETS["library_after_api_ms"], 3
    )
    result["search_after_api_ratio"] = round(
        result["search_after_api_p50_ms"] / TARGETS["search_after_api_ms"], 3
    )
    result["first_page_gzip_ratio"] = round(
        result["first_page_gzip_bytes"] / TARGETS["first_page_gzip_bytes"], 3
    )
    result["download_fps_ratio"] = round(download_fps / TARGETS["download_fps"], 3)
    result["download_vs_idle_fps_ratio"] = round(download_fps / idle_fps, 3) if idle_fps else None
    return result


if __name__ == "__main__":
    main()
