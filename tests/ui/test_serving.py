"""How the manager serves the web UI (no browser needed): the page at ``/`` and its assets,
their cache and security headers, content-hashed asset URLs, what is public in token mode,
the size budget of the first page, and the safety rules the scripts keep."""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from manager.app import create_app
from manager.settings import ManagerSettings
from manager.web.ui import INDEX_PATH, STATIC_DIR, asset_files, build_ui

FIRST_PAGE_BUDGET_GZIP = 150 * 1024
BASE_URL = "http://127.0.0.1:8000"


def settings(tmp_path: Path, **overrides: object) -> ManagerSettings:
    return ManagerSettings(
        data_dir=tmp_path / "data",
        hf_cache_dir=tmp_path / "hf",
        models_dir=tmp_path / "models",
        inference_url="http://127.0.0.1:9",
        **overrides,  # type: ignore[arg-type]
    )


# Synchronous clients (the app runs in a thread of its own): the browser tests' Playwright
# keeps an event loop running in this thread, where an async test could not start another.
@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path)), base_url=BASE_URL) as c:
        yield c


@pytest.fixture
def token_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings(tmp_path, api_token="ui-secret"))
    with TestClient(app, base_url=BASE_URL) as c:
        yield c


def referenced(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/ui/[^"]+)"', page)


def test_page_headers_and_no_inline_code(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    page = r.text
    assert '<meta name="modelyard-auth" content="none">' in page
    # Every script is a file; nothing inline for the CSP to refuse.
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all('src="/ui/' in tag for tag in scripts)
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_assets_are_hashed_and_cached(client: TestClient) -> None:
    urls = referenced((client.get("/")).text)
    prefix = build_ui(auth_required=False).prefix
    assert all(url.startswith(prefix + "/") for url in urls)
    assert re.fullmatch(r"/ui/[0-9a-f]{12}", prefix)
    assert {f"{prefix}/{name}" for name in asset_files() if name.endswith(".js")} <= set(urls)
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-security-policy" in r.headers
    js = client.get(f"{prefix}/js/app.js", headers={"Accept-Encoding": "gzip"})
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert js.headers["content-encoding"] == "gzip"
    assert js.text == (STATIC_DIR / "js" / "app.js").read_text()
    assert (client.get(f"{prefix}/js/missing.js")).status_code == 404
    # The API is untouched by the mount.
    assert (client.get("/health")).json() == {"status": "ok"}


def test_asset_urls_change_with_any_file(tmp_path: Path) -> None:
    root = tmp_path / "static"
    shutil.copytree(STATIC_DIR, root)
    index = tmp_path / "index.html"
    shutil.copy(INDEX_PATH, index)
    first = build_ui(auth_required=False, root=root, index=index)
    assert build_ui(auth_required=False, root=root, index=index).prefix == first.prefix
    (root / "js" / "dom.js").write_text((root / "js" / "dom.js").read_text() + "\n// changed\n")
    second = build_ui(auth_required=False, root=root, index=index)
    assert second.prefix != first.prefix
    index.write_text(index.read_text() + "\n")
    assert build_ui(auth_required=False, root=root, index=index).prefix != second.prefix


def test_token_mode_page_and_assets_public_api_not(
    token_client: TestClient,
) -> None:
    r = token_client.get("/")
    assert r.status_code == 200
    assert '<meta name="modelyard-auth" content="token">' in r.text
    urls = referenced(r.text)
    assert urls
    for url in urls:
        assert (token_client.get(url)).status_code == 200, url
    prefix = build_ui(auth_required=True).prefix
    assert all(url.startswith(prefix + "/") for url in urls)
    # Only the files themselves are public: nothing else under the prefix, and no API route.
    for path in (
        f"{prefix}/js/not-a-file.js",
        "/ui/000000000000/js/app.js",
        "/api/models/local",
        "/api/downloads",
        "/v1/models",
        "/openapi.json",
    ):
        denied = token_client.get(path)
        assert denied.status_code == 401, path
        assert denied.json()["error"]["code"] == "INVALID_TOKEN"
    wrong = token_client.get("/api/hub/search", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401


def test_first_page_fits_the_size_budget() -> None:
    """Every asset is loaded by the first page (modules are preloaded): all of it, gzipped,
    stays within the budget."""
    ui = build_ui(auth_required=False)
    total = len(gzip.compress(ui.index_html, 9))
    total += sum(len(gzip.compress((STATIC_DIR / n).read_bytes(), 9)) for n in asset_files())
    assert total <= FIRST_PAGE_BUDGET_GZIP, total


UNSAFE_DOM = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(|"
    r"setAttribute\(\s*[\"']style|setAttribute\(\s*[\"']on"
)


def test_scripts_never_parse_html() -> None:
    """The UI builds every element with createElement and text nodes: API data (model cards
    included) is never parsed as HTML, and no inline style or handler is set."""
    for name in asset_files():
        if name.endswith(".js"):
            text = (STATIC_DIR / name).read_text()
            assert not UNSAFE_DOM.search(text), (name, UNSAFE_DOM.search(text))
