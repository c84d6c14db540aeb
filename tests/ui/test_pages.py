"""Every page of the web UI at 1280 x 800 and at phone width (light and dark), reachable with
the keyboard, with no horizontal scrolling on a phone; the library's import, the pool's load
/ pin / unload, storage cleanup (the preview, and the real run on an orphaned partial
download) and the delete of an import (its origin stays). Screenshots of each page at both
widths go to ``tests/artifacts/``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service
from modelyard_dev.tiny_model import TINY, write_model
from tests.ui.conftest import DESKTOP, MODEL, PHONE, Watched, start_manager

pytestmark = pytest.mark.slow

IMPORTED = "local/ui-import"
ROUTES = (
    ("discover", "discover", "results"),
    ("model", f"model/{MODEL}", "model"),
    ("downloads", "downloads", "downloads"),
    ("library", "library", "library"),
    ("running", "running", "running"),
    ("chat", f"chat?model={IMPORTED}", "chat"),
)


def tour(w: Watched, label: str) -> None:
    for name, route, ready in ROUTES:
        w.goto(route)
        w.wait_ready(ready)
        # Everything a page fills in after it is shown (verdicts, panels) has arrived.
        w.page.wait_for_function(
            "() => !document.querySelector('main .loading, main .verdict-slot .badge.muted')"
        )
        overflow = w.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {label}"
        w.shot(f"{name}-{label}")


def test_keyboard_reaches_the_navigation(open_page: Any, manager: Service) -> None:
    w = open_page(manager)
    page = w.page
    page.goto(manager.url + "/")
    w.wait_ready("results")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "skip"
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.textContent.trim()"))
    for label in ("Discover", "Downloads", "Library", "Running", "Chat", "Search"):
        assert any(text.startswith(label) for text in reached), (label, reached)
    # The skip link moves the focus to the page's content.
    page.get_by_role("link", name="Skip to content").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # Following a link with the keyboard moves to its page.
    page.get_by_role("link", name="Library").focus()
    page.keyboard.press("Enter")
    w.wait_ready("library")
    assert page.get_by_role("link", name="Library").get_attribute("aria-current") == "page"
    w.assert_clean()


def test_pages_import_pool_cleanup(
    open_page: Any, manager: Service, inference: Service, tmp_path: Path
) -> None:
    origin = write_model(tmp_path / "tiny-folder", TINY)
    w = open_page(manager, viewport=DESKTOP)
    page = w.page
    page.goto(manager.url + "/#/library")
    w.wait_ready("library")
    page.get_by_label("Path").fill(str(origin))
    page.get_by_label("Name", exact=True).fill("ui-import")
    page.get_by_role("button", name="Import").click()
    page.get_by_text(f"Imported as {IMPORTED}.").wait_for()
    page.locator(f'tr[data-model="{IMPORTED}"]').wait_for()
    # Filter and sort: the choice goes in the address, the list follows it.
    page.get_by_label("Filter").fill("no-such-model")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("No models match.").wait_for()
    page.get_by_label("Sort").select_option("-size")
    page.wait_for_url("**sort=-size*")
    w.wait_ready("library")
    assert "q=no-such-model" in page.url
    page.get_by_label("Filter").fill("ui-import")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**q=ui-import*")
    # The address changes before the page renders again (the previous render is still
    # marked ready for a moment): wait for the filtered list itself.
    page.locator(f'table.library tbody tr[data-model="{IMPORTED}"]').wait_for()
    w.wait_ready("library")
    assert page.locator("table.library tbody tr").count() == 1

    # Load it pinned from the Running page; it shows in the pool and the budget bar.
    w.goto("running")
    w.wait_ready("running")
    page.get_by_label("Model", exact=True).select_option(IMPORTED)
    page.get_by_label("Pin it").check()
    page.get_by_role("button", name="Load", exact=True).click()
    slot = page.locator(f'tr[data-slot="{IMPORTED}"]')
    slot.wait_for(timeout=60_000)
    assert "pinned" in slot.inner_text()
    assert page.locator(".budget .seg").count() >= 1

    tour(w, "desktop")
    phone = open_page(manager, viewport=PHONE, dark=True)
    phone.page.goto(manager.url + "/")
    tour(phone, "phone")
    dark = phone.page.evaluate(
        "() => matchMedia('(prefers-color-scheme: dark)').matches"
        " && getComputedStyle(document.body).backgroundColor"
    )
    assert dark == "rgb(20, 21, 24)"

    # Unload it again from the pool.
    w.goto("running")
    w.wait_ready("running")
    page.locator(f'tr[data-slot="{IMPORTED}"]').get_by_role("button", name="Unload").click()
    page.locator(f'tr[data-slot="{IMPORTED}"]').wait_for(state="detached", timeout=30_000)
    slots = httpx.get(inference.url + "/admin/pool", timeout=10).json()["slots"]
    assert IMPORTED not in [s["id"] for s in slots]

    # Storage: the dry run first; then delete the import, whose origin stays.
    w.goto("library")
    w.wait_ready("library")
    page.get_by_role("button", name="Preview cleanup").click()
    page.locator("text=Nothing to clean up.").or_(page.locator("text=would be removed")).wait_for()
    page.locator(f'tr[data-model="{IMPORTED}"]').get_by_role(
        "button", name=f"Delete {IMPORTED}"
    ).click()
    dialog = page.locator("dialog")
    dialog.wait_for()
    assert str(origin) in dialog.locator("text=where it was imported from").inner_text()
    dialog.get_by_role("button", name="Delete").click()
    page.locator(f'tr[data-model="{IMPORTED}"]').wait_for(state="detached")
    assert (origin / "model.safetensors").is_file()
    w.assert_clean()
    phone.assert_clean()


def test_storage_cleanup_removes_an_orphaned_partial_download(
    open_page: Any,
    hub: tuple[FakeHub, str],
    inference: Service,
    logs: Path,
    tmp_path: Path,
) -> None:
    """The real cleanup run, not only its preview: a partial download that no job owns and
    that has not changed for longer than ``MODEL_MANAGER_CLEANUP_GRACE_S`` is listed by the
    preview and removed by the run; a partial written just now is kept by both."""
    cache = tmp_path / "hub"
    old = cache / "models--org--orphan" / "blobs" / f"{'a' * 64}.incomplete"
    fresh = cache / "models--org--fresh" / "blobs" / f"{'b' * 64}.incomplete"
    for path, size in ((old, 5000), (fresh, 3000)):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\0" * size)
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    own = start_manager(
        hub[1],
        inference,
        cache,
        tmp_path / "models",
        tmp_path / "data",
        logs,
        {"MODEL_MANAGER_CLEANUP_GRACE_S": "60"},
    )
    try:
        w = open_page(own)
        page = w.page
        w.goto("library")
        w.wait_ready("library")
        storage = page.locator('section[aria-labelledby="storage-h"]')
        partials = storage.locator("dt:text-is('Partial downloads') + dd")
        partials.wait_for()
        assert partials.inner_text().endswith("(2)")

        storage.get_by_role("button", name="Preview cleanup").click()
        storage.get_by_text("1 file(s) would be removed").wait_for()
        listed = storage.locator("ul.paths").all_inner_texts()
        assert str(old) in listed[0] and str(fresh) not in listed[0]
        assert str(fresh) in listed[1]  # kept: changed within the grace period
        assert old.exists()  # a preview removes nothing

        storage.get_by_role("button", name="Remove 1 file(s)").click()
        storage.get_by_text("Removed 1 file(s), freed 5.00 KB.").wait_for()
        assert not old.exists()
        assert fresh.exists()
        # The panel reloads its figures after the run.
        page.wait_for_function(
            "() => [...document.querySelectorAll('dt')].some((dt) => dt.textContent === "
            "'Partial downloads' && dt.nextElementSibling.textContent.endsWith('(1)'))"
        )
        w.shot("library-cleanup-done")
        w.assert_clean()
    finally:
        own.stop()
