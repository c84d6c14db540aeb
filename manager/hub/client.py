"""The Hub's HTTP API, async, with huggingface_hub's transport and error classification.

Every call the manager makes to the Hub API goes through :class:`HubClient`: search pages,
model descriptions (optionally at a revision, with file sizes and LFS hashes), a revision's
file tree, small files. Requests go to ``settings.hub_endpoint`` over huggingface_hub's HTTP
stack (``httpx2``, with its headers from ``build_hf_headers`` and its ``HF_HUB_OFFLINE``
switch honoured), and every answer passes ``hf_raise_for_status``, so the Hub's own error
codes (``X-Error-Code``) are read the way huggingface_hub reads them;
:func:`manager.hub.errors.hub_error` maps the failures to the manager's tree. The TLS context
is built once per process (loading the CA bundle takes tens of milliseconds) and shared by the
clients. Each call counts once in ``hub_requests_total`` under its operation and outcome.

The token is sent as a header and never appears in a message or a log line.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from manager.errors import (
    HubAccessDeniedError,
    HubModelNotFoundError,
    HubResponseError,
    HubUnavailableError,
    ManagerError,
)
from manager.hub.errors import hub_error
from manager.metrics import ManagerMetrics

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 32 * 2**20


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


class FileNotOnHub(Exception):
    """A file the repository does not have (``EntryNotFound``): callers decide what it means."""


def _check_online() -> None:
    if hf_constants.is_offline_mode():
        raise hf_errors.OfflineModeIsEnabled("HF_HUB_OFFLINE is set")


def _missing_file(exc: BaseException) -> bool:
    """``EntryNotFound``, or a bare 404 on a file URL (no ``X-Error-Code`` to say more)."""
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return True
    return (
        type(exc) is hf_errors.HfHubHTTPError
        and exc.response is not None
        and exc.response.status_code == 404
    )


_OUTCOMES: tuple[tuple[type[ManagerError], str], ...] = (
    (HubAccessDeniedError, "denied"),
    (HubModelNotFoundError, "not_found"),
    (HubUnavailableError, "unavailable"),
)


class HubClient:
    """Async calls to the Hub API. Use as ``async with HubClient(...) as hub:``."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        timeout_s: float,
        metrics: ManagerMetrics,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._headers = build_hf_headers(token=token or False, library_name="modelyard")
        self._timeout = httpx2.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._metrics = metrics
        self._client: httpx2.AsyncClient | None = None

    async def __aenter__(self) -> HubClient:
        self._client = httpx2.AsyncClient(
            timeout=self._timeout, follow_redirects=True, verify=_tls_context()
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            raise RuntimeError("HubClient used outside 'async with'")
        return self._client

    def _count(self, operation: str, outcome: str) -> None:
        self._metrics.hub_requests.labels(operation=operation, outcome=outcome).inc()

    def _fail(
        self,
        operation: str,
        exc: BaseException,
        model_id: str | None,
        revision: str | None = None,
    ) -> ManagerError:
        error = hub_error(exc, endpoint=self.endpoint, model_id=model_id, revision=revision)
        outcome = next((name for cls, name in _OUTCOMES if isinstance(error, cls)), "error")
        self._count(operation, outcome)
        if isinstance(error, HubUnavailableError):
            logger.warning("Hub %s failed: %s", operation, error.message)
        return error

    async def _get(
        self,
        operation: str,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        model_id: str | None = None,
        revision: str | None = None,
    ) -> httpx2.Response:
        try:
            _check_online()
            response = await self.client.get(url, params=tuple(params or ()), headers=self._headers)
            hf_raise_for_status(response)
        except (hf_errors.HfHubHTTPError, httpx2.TransportError, OSError) as exc:
            if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
                self._count(operation, "not_found")
                raise FileNotOnHub(url) from exc
            raise self._fail(operation, exc, model_id, revision) from exc
        return response

    def _json(self, operation: str, response: httpx2.Response, model_id: str | None) -> Any:
        try:
            if len(response.content) > MAX_JSON_BYTES:
                raise ValueError("answer too large")
            value = json.loads(response.content)
        except ValueError as exc:
            self._count(operation, "error")
            raise HubResponseError(
                f"the Hub's answer to {operation} is not valid JSON",
                details={"model_id": model_id} if model_id else {},
            ) from exc
        return value

    async def list_models(self, query: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], str]:
        """One page of ``GET /api/models``: the items and the next page's URL ("" if last)."""
        response = await self._get("search", f"{self.endpoint}/api/models", params=query)
        items = self._json("search", response, None)
        if not isinstance(items, list):
            self._count("search", "error")
            raise HubResponseError("the Hub's model list is not a JSON list")
        self._count("search", "ok")
        next_url = response.links.get("next", {}).get("url") or ""
        return [item for item in items if isinstance(item, dict) and item.get("id")], next_url

    def _repo_url(self, repo_id: str, revision: str | None, view: str = "revision") -> str:
        """``/api/models/{repo_id}``, or one of its views (``revision``, ``tree``) at a
        revision."""
        url = f"{self.endpoint}/api/models/{quote(repo_id, safe='/')}"
        if revision is not None:
            url += f"/{view}/{quote(revision, safe='')}"
        return url

    async def model_info(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        blobs: bool = False,
        operation: str = "model_info",
    ) -> dict[str, Any]:
        """``GET /api/models/{repo_id}[/revision/{revision}]`` (with file sizes and LFS hashes
        when ``blobs``)."""
        url = self._repo_url(repo_id, revision)
        params = [("blobs", "true")] if blobs else None
        response = await self._get(
            operation, url, params=params, model_id=repo_id, revision=revision
        )
        info = self._json(operation, response, repo_id)
        if not isinstance(info, dict) or not isinstance(info.get("id"), str):
            self._count(operation, "error")
            raise HubResponseError(
                f"the Hub's description of {repo_id!r} has no id", details={"model_id": repo_id}
            )
        self._count(operation, "ok")
        return info

    async def list_tree(
        self, repo_id: str, revision: str, *, operation: str = "tree"
    ) -> list[dict[str, Any]]:
        """Every entry of ``GET /api/models/{repo_id}/tree/{revision}?recursive=true``, pages
        followed (``Link: rel="next"``)."""
        url = self._repo_url(repo_id, revision, "tree")
        params: list[tuple[str, str]] | None = [("recursive", "true")]
        entries: list[dict[str, Any]] = []
        while url:
            response = await self._get(
                operation, url, params=params, model_id=repo_id, revision=revision
            )
            page = self._json(operation, response, repo_id)
            if not isinstance(page, list):
                self._count(operation, "error")
                raise HubResponseError(
                    f"the Hub's file tree of {repo_id!r} is not a JSON list",
                    details={"model_id": repo_id, "revision": revision},
                )
            entries.extend(entry for entry in page if isinstance(entry, dict))
            url, params = response.links.get("next", {}).get("url") or "", None
        self._count(operation, "ok")
        return entries

    async def read_file(
        self, repo_id: str, revision: str, path: str, *, max_bytes: int
    ) -> tuple[bytes, str | None]:
        """A small file's bytes (at most ``max_bytes``) and the commit it came from.

        Raises :class:`FileNotOnHub` when the repository has no such file.
        """
        url = (
            f"{self.endpoint}/{quote(repo_id, safe='/')}/resolve/"
            f"{quote(revision, safe='')}/{quote(path, safe='/')}"
        )
        operation = "file"
        try:
            _check_online()
            async with self.client.stream("GET", url, headers=self._headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    hf_raise_for_status(response)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        del data[max_bytes:]
                        break
        except (hf_errors.HfHubHTTPError, httpx2.TransportError, OSError) as exc:
            if _missing_file(exc):
                self._count(operation, "not_found")
                raise FileNotOnHub(path) from exc
            raise self._fail(operation, exc, repo_id) from exc
        self._count(operation, "ok")
        return bytes(data), response.headers.get("X-Repo-Commit")
