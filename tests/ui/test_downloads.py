"""Downloads in the browser: pause, resume and cancel from the Downloads page; the progress
stream survives a manager restart and resumes with ``Last-Event-ID``; a model that would not
run here is downloaded only when asked again, and its job keeps the warning; search pages and
a model's quantized variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service
from tests.ui.conftest import MODEL, SLOW, VARIANT, start_manager

pytestmark = pytest.mark.slow

GGUF_ONLY = "bad/ui-gguf-only"


def test_pause_resume_cancel(open_page: Any, manager: Service, hub: tuple[FakeHub, str]) -> None:
    fake = hub[0]
    fake.set_fault(path_glob=f"{SLOW}/model.safetensors", throttle_bps=40_000)
    try:
        w = open_page(manager)
        w.goto(f"model/{SLOW}")
        w.wait_ready("model")
        w.page.get_by_role("button", name="Download", exact=True).click()
        w.page.locator('.job-slot [data-status="downloading"]').wait_for()
        w.goto("downloads")
        w.wait_ready("downloads")
        job = w.page.locator('section[aria-labelledby="active-h"] li.job', has_text=SLOW)
        job.locator('[data-status="downloading"]').wait_for()
        job.get_by_role("button", name="Pause").click()
        job.locator('[data-status="paused"]').wait_for()
        job.get_by_role("button", name="Resume").click()
        job.locator('[data-status="downloading"]').wait_for()
        job.get_by_role("button", name="Cancel").click()
        history = w.page.locator('section[aria-labelledby="history-h"] li.job', has_text=SLOW)
        history.locator('[data-status="cancelled"]').wait_for()
        assert (
            w.page.locator('section[aria-labelledby="active-h"] li.job', has_text=SLOW).count() == 0
        )
        history.get_by_role("button", name="Remove from history").click()
        history.wait_for(state="detached")
    finally:
        fake.set_fault(path_glob=f"{SLOW}/model.safetensors", throttle_bps=0)
    w.assert_clean()


def test_a_model_that_cannot_run_is_downloaded_only_when_asked_again(
    open_page: Any, manager: Service, hub: tuple[FakeHub, str]
) -> None:
    """Download of a GGUF-only repository (the inference server loads MLX safetensors): the
    manager answers 409 ``model_not_servable``; the page shows the verdict and its reasons
    and a "Download anyway" that sends the request again with ``force``. The job carries the
    verdict as its warning, shown beside its progress and in its row on the Downloads page.

    Reproduction: the button showed the 409 as "The download could not start." with the
    API's own advice ("send "force": true"), and a page had no way to send it."""
    fake = hub[0]
    fake.add_repo(GGUF_ONLY, {"README.md": b"# q\n", "tiny-Q4_K_M.gguf": b"GGUF" * 256})
    api = httpx.Client(base_url=manager.url, timeout=30)
    try:
        w = open_page(manager)
        w.allow(lambda url, status: status == 409 and url.endswith("/api/downloads"))
        page = w.page
        w.goto(f"model/{GGUF_ONLY}")
        w.wait_ready("model")
        page.get_by_role("button", name="Download", exact=True).click()
        refusal = page.locator(".job-slot .not-servable")
        refusal.wait_for()
        assert refusal.get_attribute("data-verdict") == "not-loadable"
        assert "Can't load" in refusal.inner_text()
        assert refusal.locator('li[data-code="unsupported_format"]').count() == 1
        assert '"force"' not in refusal.inner_text()  # the button is the way, not the API's hint
        w.shot("model-not-servable")
        jobs = api.get("/api/downloads").json()["downloads"]
        assert [j for j in jobs if j["model_id"] == GGUF_ONLY] == []

        refusal.get_by_role("button", name="Download anyway").click()
        slot = page.locator(".job-slot")
        slot.locator('[data-status="completed"]').wait_for()
        assert refusal.count() == 0
        warning = slot.locator(".job-warning")
        assert "Downloaded anyway" in warning.inner_text()
        assert "Can't load" in warning.inner_text()
        job = next(
            j for j in api.get("/api/downloads").json()["downloads"] if j["model_id"] == GGUF_ONLY
        )
        assert job["warning"]["code"] == "model_not_servable"
        reason = next(
            r for r in job["warning"]["details"]["reasons"] if r["code"] == "unsupported_format"
        )
        assert reason["message"] in warning.inner_text()

        w.goto("downloads")
        w.wait_ready("downloads")
        row = page.locator(f'li.job[data-job="{job["id"]}"]')
        row.locator('[data-status="completed"]').wait_for()
        assert reason["message"] in row.locator(".job-warning").inner_text()
        w.shot("downloads-forced-warning")
        w.assert_clean()
    finally:
        for j in api.get("/api/downloads").json()["downloads"]:
            if j["model_id"] == GGUF_ONLY:
                api.delete(f"/api/downloads/{j['id']}")
        api.delete(f"/api/models/local/{GGUF_ONLY}")
        api.close()
        fake.remove_repo(GGUF_ONLY)


def test_progress_stream_resumes_after_a_restart(
    open_page: Any,
    inference: Service,
    hub: tuple[FakeHub, str],
    hf_cache_dir: Path,
    local_models_dir: Path,
    logs: Path,
    tmp_path: Path,
) -> None:
    own = start_manager(hub[1], inference, hf_cache_dir, local_models_dir, tmp_path, logs)
    try:
        w = open_page(own)
        streams: list[dict[str, str]] = []
        w.page.on(
            "request",
            lambda r: (
                streams.append(r.headers) if r.url.endswith("/api/downloads/events") else None
            ),
        )
        w.goto("downloads")
        w.wait_ready("downloads")
        status = w.page.get_by_role("status").filter(has_text="live")
        status.wait_for()
        own.stop()
        w.page.get_by_text("reconnecting…").wait_for()
        own.start()
        w.page.get_by_text("● live").wait_for(timeout=30_000)
        assert len(streams) >= 2
        assert "last-event-id" not in streams[0]
        assert streams[-1].get("last-event-id"), streams[-1]
        # While the manager was down its stream could not connect; nothing else failed.
        w.problems = [p for p in w.problems if "/api/downloads/events" not in p]
        w.assert_clean()
    finally:
        own.stop()


def test_search_pages_and_variants(open_page: Any, manager: Service) -> None:
    """Search pages, and a model's variants. The verdicts of a search page arrive in one
    call (the search with ``verdicts=true``), not one compatibility call per card."""
    w = open_page(manager)
    calls: list[str] = []
    w.page.on("request", lambda r: calls.append(r.url) if "/api/" in r.url else None)
    w.goto("discover")
    w.wait_ready("results")
    page = w.page
    first = page.locator("ul.cards li h2").all_inner_texts()
    assert len(first) == 20
    page.wait_for_function("() => !document.querySelector('.verdict-slot .badge.muted')")
    assert page.locator(".verdict-slot .verdict.ok").count() == 20  # the tiny models run here
    assert [c for c in calls if "/api/models/compatibility/" in c] == []
    assert len([c for c in calls if "/api/hub/search" in c and "verdicts=true" in c]) == 1
    page.get_by_role("button", name="Next →").click()
    page.wait_for_url("**page=2*")
    w.wait_ready("results")
    second = page.locator("ul.cards li h2").all_inner_texts()
    assert second and not set(second) & set(first)
    assert page.get_by_role("button", name="Next →").is_disabled()
    page.get_by_role("button", name="← Previous").click()
    page.wait_for_url("**page=1*")
    w.wait_ready("results")
    assert page.locator("ul.cards li h2").all_inner_texts() == first

    w.goto(f"model/{MODEL}")
    w.wait_ready("model")
    variants = page.locator('section[aria-labelledby="variants-h"] tbody tr')
    variants.first.wait_for()
    assert VARIANT in variants.first.inner_text()
    variants.first.locator(".verdict-slot .verdict:not(.muted)").wait_for()
    variants.first.get_by_role("link", name=VARIANT).click()
    w.wait_ready("model")
    assert page.get_by_role("heading", level=1).inner_text() == VARIANT
    assert MODEL in page.locator(".model-head").inner_text()  # "Based on"
    w.assert_clean()
