"""Serve the web UI from the files in ``static/``: no build step, no Node, no CDN.

The page at ``/`` is ``index.html`` with three things filled in when the app is built: the
URL prefix of the assets, a preload link for each module, and whether the API wants a
token. Every other file is served under ``/ui/<version>/``, where ``version`` is a hash of
the contents of every file, so a changed file changes every asset URL: assets are sent
gzipped and cached for a year (``immutable``), and the page itself is revalidated on each
visit (``no-cache``). Relative imports between the ES modules resolve under the same prefix,
so no file needs to name its own hash.

The page and the assets are public (they carry no data); the API calls they make carry the
token. Each UI response carries a Content Security Policy that allows scripts, styles and
connections from this origin only (no inline scripts or styles, no ``eval``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
INDEX_PATH = Path(__file__).parent / "index.html"
VERSION_CHARS = 12

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
ASSET_CACHE = "public, max-age=31536000, immutable"


def asset_files(root: Path = STATIC_DIR) -> list[str]:
    """The files served as assets (POSIX paths relative to ``root``), sorted."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )


def tree_version(root: Path, files: list[str], page: bytes) -> str:
    """A hash of every asset's path and bytes, and of the page: the assets' URL prefix."""
    digest = hashlib.sha256(hashlib.sha256(page).digest())
    for name in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()[:VERSION_CHARS]


@dataclass(frozen=True)
class WebUI:
    """What ``mount_ui`` serves: the rendered page, the asset prefix, the public paths."""

    index_html: bytes
    prefix: str
    public_paths: frozenset[str]


def build_ui(*, auth_required: bool, root: Path = STATIC_DIR, index: Path = INDEX_PATH) -> WebUI:
    files = asset_files(root)
    template = index.read_bytes()
    prefix = f"/ui/{tree_version(root, files, template)}"
    # Every module is fetched at once rather than as each import is found.
    preload = "\n".join(
        f'<link rel="modulepreload" href="{prefix}/{name}">'
        for name in files
        if name.endswith(".js")
    )
    page = (
        template.decode("utf-8")
        .replace("%PRELOAD%", preload)
        .replace("%ASSETS%", prefix)
        .replace("%AUTH%", "token" if auth_required else "none")
    )
    public = frozenset({"/", *(f"{prefix}/{name}" for name in files)})
    return WebUI(index_html=page.encode(), prefix=prefix, public_paths=public)


class AssetFiles(StaticFiles):
    """Static files with long-lived cache headers and the UI's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = ASSET_CACHE
        return response


def mount_ui(app: FastAPI, *, auth_required: bool) -> WebUI:
    """Serve the page at ``/`` and the assets under ``/ui/<version>/``; returns what it
    serves (its ``public_paths`` need no token)."""
    ui = build_ui(auth_required=auth_required)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> Response:
        return HTMLResponse(
            ui.index_html, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        )

    assets = AssetFiles(directory=STATIC_DIR, follow_symlink=False)
    app.mount(ui.prefix, GZipMiddleware(assets, minimum_size=512), name="ui")
    return ui
