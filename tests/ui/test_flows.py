"""A person's path through the web UI, in Chromium, against the real services: search the
(fake) Hub, open a model, download it with visible progress, find it in the library, chat
with it (streamed), stop a generation (the inference server stops too), delete it. The same
in token mode, after the login prompt. A failed download shows why and resumes.

Each test fails on any console error, uncaught exception, failed request or HTTP error on
its pages (see ``Watched``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service
from tests.ui.conftest import (
    BROKEN,
    MODEL,
    TOKEN,
    Watched,
    active_requests,
    wait_until,
)

pytestmark = pytest.mark.slow

# Records every value the first download progress bar shows (one sample per frame).
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const tick = () => {
    const bar = document.querySelector('.job-slot progress');
    if (bar) window.__progress.push(Number(bar.value));
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def search_and_open(w: Watched, query: str, model_id: str) -> None:
    """Search with the keyboard and open the result with the keyboard."""
    page = w.page
    w.wait_ready("results")
    page.get_by_label("Search the Hub").fill(query)
    page.get_by_label("Search the Hub").press("Enter")
    page.wait_for_url(f"**/#/discover?q={query}*")
    w.wait_ready("results")
    link = page.get_by_role("link", name=model_id, exact=True)
    link.focus()
    page.keyboard.press("Enter")
    w.wait_ready("model")


def download_with_progress(w: Watched, hub: FakeHub, model_id: str) -> None:
    page = w.page
    # Slow the weights down so the progress is there to be seen.
    hub.set_fault(path_glob=f"{model_id}/model.safetensors", throttle_bps=150_000)
    try:
        page.evaluate(RECORD_PROGRESS)
        button = page.get_by_role("button", name="Download", exact=True)
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector('.job-slot [data-status="completed"]', timeout=60_000)
    finally:
        hub.set_fault(path_glob=f"{model_id}/model.safetensors", throttle_bps=0)
    page.wait_for_function("() => document.querySelector('.job-slot .pct').textContent === '100 %'")
    seen: list[float] = page.evaluate("() => window.__progress")
    between = [v for v in seen if 0 < v < 100]
    assert between, f"no progress between 0 and 100 % was shown: {sorted(set(seen))}"
    assert seen[-1] == 100


def chat_and_stop(w: Watched, inference: Service, model_id: str) -> None:
    page = w.page
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("12000")
    message = page.get_by_role("textbox", name="Message")
    message.fill("tell me a very long story")
    message.press("Enter")
    # It streams: text grows while the answer is still open.
    streaming = page.locator('li.msg[data-streaming="true"] .text')
    wait_until(lambda: len(streaming.inner_text()) > 20, what="streamed text")
    assert page.locator('li.msg[data-streaming="true"]').count() == 1
    assert active_requests(inference) == 1
    page.get_by_role("button", name="Stop").click()
    # However the answer ended, say how (an error, or a completion that beat the click).
    ended = page.locator("li.msg.assistant[data-done]").last
    ended.wait_for()
    outcome = ended.get_attribute("data-done")
    assert outcome == "stopped", f"{outcome}: {ended.inner_text()!r} at {page.url}"
    wait_until(lambda: active_requests(inference) == 0, what="the generation to stop")
    stopped = page.locator('li.msg[data-done="stopped"]')
    assert stopped.locator(".text").inner_text()
    assert "stopped" in stopped.locator(".foot").inner_text()

    # A new conversation with a short answer: it completes, with its timings.
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Max tokens").fill("8")
    page.get_by_role("textbox", name="Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    done = page.locator('li.msg[data-done="complete"]')
    done.wait_for()
    foot = done.locator(".foot").inner_text()
    assert "first token" in foot and "tokens/s" in foot and "8 tokens" in foot, foot
    assert done.locator(".text").inner_text()
    # Both conversations are kept in the browser.
    saved = page.evaluate("() => JSON.parse(localStorage.getItem('modelyard.chats')).length")
    assert saved == 2


def delete_from_library(w: Watched, model_id: str, cache_dir_name: str) -> None:
    page = w.page
    w.goto("library")
    w.wait_ready("library")
    row = page.locator(f'tr[data-model="{model_id}"]')
    row.get_by_role("button", name=f"Delete {model_id}").click()
    dialog = page.locator("dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "Removed" in text and cache_dir_name in text and "Stays" in text, text
    dialog.get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")


def full_flow(w: Watched, hub: FakeHub, inference: Service, shots: str) -> None:
    page = w.page
    search_and_open(w, "tiny-chat", MODEL)
    # The card is rendered, and nothing in it can run or load from elsewhere.
    card = page.locator(".markdown")
    card.locator("table").wait_for()
    assert card.locator("script, img, iframe, [onerror]").count() == 0
    hrefs = card.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "https://example.com/docs" in hrefs
    assert all(h.startswith(("https:", "http:", "mailto:")) for h in hrefs), hrefs
    page.locator(".verdict-slot .verdict:not(.muted)").first.wait_for()
    w.shot(f"{shots}-model")

    download_with_progress(w, hub, MODEL)
    w.goto("downloads")
    w.wait_ready("downloads")
    job = page.locator(".jobs li.job", has_text=MODEL).first
    assert job.get_attribute("data-job")
    assert "100 %" in job.inner_text()
    w.shot(f"{shots}-downloads")

    w.goto("library")
    w.wait_ready("library")
    row = page.locator(f'tr[data-model="{MODEL}"]')
    assert "mlx" in row.inner_text()
    w.shot(f"{shots}-library")
    row.get_by_role("link", name="Chat").click()
    w.wait_ready("chat")
    chat_and_stop(w, inference, MODEL)
    w.shot(f"{shots}-chat")

    delete_from_library(w, MODEL, "models--org--tiny-chat-mlx")


def test_search_download_chat_stop_delete(
    open_page: Any, manager: Service, inference: Service, hub: tuple[FakeHub, str]
) -> None:
    w = open_page(manager)
    w.page.goto(manager.url + "/")
    full_flow(w, hub[0], inference, "flow")
    # The library is empty again, and the chat stopped for real on the server.
    models = httpx.get(manager.url + "/api/models/local", timeout=10).json()["data"]
    assert MODEL not in [m["id"] for m in models]
    w.assert_clean()


def test_token_mode(
    open_page: Any, token_manager: Service, inference: Service, hub: tuple[FakeHub, str]
) -> None:
    w = open_page(token_manager)
    api_calls: list[str] = []
    w.page.on(
        "request",
        lambda r: api_calls.append(r.url) if "/api/" in r.url or "/v1/" in r.url else None,
    )
    w.page.goto(token_manager.url + "/")
    token = w.page.get_by_label("API token")
    token.wait_for()
    assert api_calls == []  # the login page asks for nothing
    w.shot("token-login")

    # A wrong token is refused (that one 401 is expected), the right one lets us in.
    def refused(url: str, status: int) -> bool:
        return status == 401 and url.endswith("/api/downloads?limit=1")

    w.allow(refused)
    token.fill("not-the-token")
    token.press("Enter")
    w.page.get_by_text("That token was refused.").wait_for()
    w.allowed.remove(refused)
    token.fill(TOKEN)
    token.press("Enter")
    full_flow(w, hub[0], inference, "token")
    stored = w.page.evaluate("() => sessionStorage.getItem('modelyard.token')")
    assert stored == TOKEN
    w.assert_clean()


def test_failed_download_shows_why_and_resumes(
    open_page: Any, manager: Service, hub: tuple[FakeHub, str]
) -> None:
    fake = hub[0]
    fake.fail_next(1, status=403, path_glob=f"{BROKEN}/model.safetensors")
    w = open_page(manager)
    w.goto(f"model/{BROKEN}")
    w.wait_ready("model")
    w.page.get_by_role("button", name="Download", exact=True).click()
    failed = w.page.locator('.job-slot [data-status="failed"]')
    failed.wait_for(timeout=60_000)
    w.goto("downloads")
    w.wait_ready("downloads")
    job = w.page.locator(".jobs li.job", has_text=BROKEN).first
    error = job.locator(".error")
    assert "refused" in error.inner_text()
    assert error.locator(".steps li").count() >= 1  # what to do about it
    w.shot("downloads-failed")
    job.get_by_role("button", name="Resume").click()
    job.locator('[data-status="completed"]').wait_for(timeout=60_000)
    assert job.locator(".error").count() == 0
    assert "100 %" in job.inner_text()
    delete_from_library(w, BROKEN, "models--org--tiny-broken-mlx")
    w.assert_clean()
