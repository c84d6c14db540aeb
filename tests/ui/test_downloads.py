"""Downloads in the browser: pause, resume and cancel from the Downloads page; the progress
stream survives a manager restart and resumes with ``Last-Event-ID``; search pages and a
model's quantized variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service
from tests.ui.conftest import MODEL, SLOW, VARIANT, start_manager

pytestmark = pytest.mark.slow


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
    w = open_page(manager)
    w.goto("discover")
    w.wait_ready("results")
    page = w.page
    first = page.locator("ul.cards li h2").all_inner_texts()
    assert len(first) == 20
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
