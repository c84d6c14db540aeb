"""Fixtures of the browser tests: the real services on loopback (fake Hub, inference server,
managers with and without a token) and Chromium driven by Playwright.

The tests skip, saying what to install, when Playwright or a Chromium binary is missing
(Debian: ``apt-get install chromium``; no browser is downloaded). Every page a test opens is
watched: console errors, uncaught exceptions, failed requests and HTTP errors are collected
and fail the test (``Watched.assert_clean``). Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import TINY

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TOKEN = "ui-test-token"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: A tiny Llama with a 16k context (greedy answers to a long prompt go on for thousands of
#: tokens), and a model card with hostile bits the renderer must neutralise.
MODEL = "org/tiny-chat-mlx"
BROKEN = "org/tiny-broken-mlx"
VARIANT = "quant/tiny-chat-mlx-8bit"
SLOW = "org/tiny-slow-mlx"
LONG_TINY = dataclasses.replace(TINY, max_position_embeddings=16384)
CARD = b"""---
license: apache-2.0
---
# Tiny chat model

A **tiny** model for tests, with a [safe link](https://example.com/docs) and a
[bad link](javascript:alert(1)) <img src=x onerror="alert(2)"> and <script>alert(3)</script>.

![a picture](https://example.com/picture.png)

| size | context |
|------|---------|
| 3M   | 16k     |

- first
- second
  - nested
"""


def chromium_path() -> str | None:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


SKIP_REASON = (
    "browser tests need Chromium and Playwright: apt-get install chromium "
    "(Debian/Ubuntu) and scripts/bootstrap.sh dev"
)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(SKIP_REASON)
    if executable is None:
        pytest.skip(SKIP_REASON)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="package")
def hub() -> Iterator[tuple[FakeHub, str]]:
    fake = FakeHub()
    fake.add_tiny_model(
        MODEL, shape=LONG_TINY, downloads=1200, likes=7, extra_files={"README.md": CARD}
    )
    fake.add_tiny_model(BROKEN, shape=TINY, seed=1, downloads=3)
    fake.add_tiny_model(
        VARIANT,
        seed=2,
        downloads=5,
        card_data={"base_model": MODEL, "base_model_relation": "quantized"},
    )
    fake.add_tiny_model(SLOW, seed=3, downloads=2)
    for i in range(25):  # a second page of results
        fake.add_tiny_model(f"other{i % 3}/filler-{i:02d}-4bit", downloads=i)
    running = fake.serve_in_thread()
    try:
        yield fake, running.url
    finally:
        running.stop()


@pytest.fixture(scope="package")
def hf_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-hf-cache")


@pytest.fixture(scope="package")
def local_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Imported models: the managers write here and the inference server reads here."""
    return tmp_path_factory.mktemp("ui-models")


@pytest.fixture(scope="package")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-logs")


@pytest.fixture(scope="package")
def inference(hf_cache_dir: Path, local_models_dir: Path, logs: Path) -> Iterator[Service]:
    service = inference_service(
        {
            "MLX_SERVER_HF_CACHE_DIR": str(hf_cache_dir),
            "MLX_SERVER_MODELS_DIRS": str(local_models_dir),
        },
        log_dir=logs,
    )
    service.start()
    yield service
    service.stop()


def start_manager(
    hub_url: str,
    inference: Service,
    hf_cache_dir: Path,
    local_models_dir: Path,
    data_dir: Path,
    logs: Path,
    extra: dict[str, str] | None = None,
) -> Service:
    service = manager_service(
        {
            "MODEL_MANAGER_HF_ENDPOINT": hub_url,
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_DATA_DIR": str(data_dir),
            "MODEL_MANAGER_HF_CACHE_DIR": str(hf_cache_dir),
            "MODEL_MANAGER_MODELS_DIR": str(local_models_dir),
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
            "MODEL_MANAGER_CATALOG_POOL_TTL_S": "0",
            "HF_HUB_DISABLE_XET": "1",
            **(extra or {}),
        },
        log_dir=logs,
    )
    return service.start()


@pytest.fixture(scope="package")
def manager(
    hub: tuple[FakeHub, str],
    inference: Service,
    hf_cache_dir: Path,
    local_models_dir: Path,
    logs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("ui-data")
    service = start_manager(hub[1], inference, hf_cache_dir, local_models_dir, data, logs)
    yield service
    service.stop()


@pytest.fixture(scope="package")
def token_manager(
    hub: tuple[FakeHub, str],
    inference: Service,
    hf_cache_dir: Path,
    local_models_dir: Path,
    logs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    service = start_manager(
        hub[1],
        inference,
        hf_cache_dir,
        local_models_dir,
        tmp_path_factory.mktemp("ui-token-data"),
        logs,
        {"MODEL_MANAGER_API_TOKEN": TOKEN},
    )
    yield service
    service.stop()


@dataclass
class Watched:
    """A page and what went wrong on it."""

    page: Any
    base_url: str
    problems: list[str] = field(default_factory=list)
    allowed: list[Callable[[str, int], bool]] = field(default_factory=list)

    def allow(self, rule: Callable[[str, int], bool]) -> None:
        """Do not count HTTP errors for which ``rule(url, status)`` is true."""
        self.allowed.append(rule)

    def _http(self, url: str, status: int) -> None:
        if not any(rule(url, status) for rule in self.allowed):
            self.problems.append(f"HTTP {status} {url}")

    def _console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        # Chromium logs every 4xx/5xx response as a console error; those are judged (and
        # allowed or not) by the response handler, with their URL.
        if msg.text.startswith("Failed to load resource: the server responded with a status"):
            return
        self.problems.append(f"console error: {msg.text} ({url})")

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        # The page cancels its own requests (Stop in the chat, leaving a page): not a fault.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url} ({failure})")

    def watch(self) -> Watched:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", lambda r: self._http(r.url, r.status) if r.status >= 400 else None)
        return self

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)

    def goto(self, route: str) -> None:
        self.page.goto(f"{self.base_url}/#/{route}")

    def wait_ready(self, name: str, timeout: float = 30_000) -> None:
        """Wait until the page ``name`` is shown for the current address: after a change of
        address, the ready mark of the previous render may stand until the router runs."""
        self.page.wait_for_function(
            """name => {
              const main = document.querySelector("main");
              return main?.dataset.ready === name && main.dataset.hash === location.hash;
            }""",
            arg=name,
            timeout=timeout,
        )

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def has_route(base_url: str, path: str, headers: dict[str, str] | None = None) -> bool:
    return httpx.get(base_url + path, headers=headers, timeout=10).status_code != 404


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Callable[..., Watched]]:
    """Open a watched page on a manager: ``open_page(service, viewport=..., dark=...)``."""
    contexts: list[Any] = []
    watched: list[Watched] = []

    def opener(
        service: Service, *, viewport: dict[str, int] = DESKTOP, dark: bool = False
    ) -> Watched:
        context = chromium.new_context(viewport=viewport, color_scheme="dark" if dark else "light")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        w = Watched(page, service.url).watch()
        # A manager that has no GET /api/system yet: the UI leaves the status line empty.
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if not has_route(service.url, "/api/system", headers):
            w.allow(lambda url, status: status == 404 and url.endswith("/api/system"))
        watched.append(w)
        return w

    yield opener
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def active_requests(inference: Service) -> int:
    pool = httpx.get(inference.url + "/admin/pool", timeout=10).json()
    return sum(slot["active_requests"] for slot in pool["slots"])
