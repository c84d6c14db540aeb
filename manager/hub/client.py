"""The Hub's HTTP API, async, with huggingface_hub's transport and error classification.

Requests go to ``settings.hub_endpoint`` over huggingface_hub's HTTP stack (``httpx2``, with
its headers from ``build_hf_headers`` and its ``HF_HUB_OFFLINE`` switch honoured), and every
answer passes ``hf_raise_for_status``, so the Hub's own error codes (``X-Error-Code``) are read
the way huggingface_hub reads them. The TLS context is built once per process (loading the CA
bundle takes tens of milliseconds) and shared by the clients. :func:`hub_error` then maps
those exceptions, and transport failures, to the manager's tree:

=====================================================  =========================================
Hub answer                                             manager error
=====================================================  =========================================
``GatedRepoError``, ``DisabledRepoError``, 401 / 403   ``HubAccessDeniedError`` (403)
``RepositoryNotFoundError``, ``RevisionNotFoundError``  ``HubModelNotFoundError`` (404)
404 / 410 without ``X-Error-Code`` on a model lookup    ``HubModelNotFoundError`` (404)
5xx, 429, connection refused / reset, timeout          ``HubUnavailableError`` (503, Retry-After)
any other 4xx, a body that is not the JSON expected     ``HubResponseError`` (502)
=====================================================  =========================================

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
from manager.metrics import ManagerMetrics

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_S = 5
MAX_JSON_BYTES = 32 * 2**20


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


class FileNotOnHub(Exception):
    """A file the repository does not have (``EntryNotFound``): callers decide what it means."""


def _retry_after(response: httpx2.Response | None) -> str:
    value = response.headers.get("Retry-After", "") if response is not None else ""
    value = value.strip()
    return value if value.isdigit() else str(DEFAULT_RETRY_AFTER_S)


def _unavailable(endpoint: str, why: str, retry_after: str) -> HubUnavailableError:
    return HubUnavailableError(
        f"the Hugging Face Hub is unavailable: {why}",
        details={"endpoint": endpoint},
        resolution_steps=[
            "Retry in a moment.",
            "Check the network, or HF_ENDPOINT / MODEL_MANAGER_HF_ENDPOINT if it is set.",
        ],
        headers={"Retry-After": retry_after},
    )


def access_denied(
    endpoint: str, model_id: str | None, *, disabled: bool = False
) -> HubAccessDeniedError:
    """403 for a gated (or disabled) repository, with the steps that open it."""
    subject = f"model {model_id!r}" if model_id else "the request"
    page = f"{endpoint}/{model_id}" if model_id else endpoint
    return HubAccessDeniedError(
        f"the Hub refused access to {subject}: "
        + ("the repository is disabled" if disabled else "it is gated"),
        details={"model_id": model_id, "gated": not disabled} if model_id else {},
        resolution_steps=[
            f"Accept the licence on the model's page ({page}) with your Hub account.",
            "Set HF_TOKEN (or MODEL_MANAGER_HF_TOKEN) to a token of that account and retry.",
        ],
    )


def hub_error(exc: BaseException, *, endpoint: str, model_id: str | None = None) -> ManagerError:
    """The manager error for a failed Hub call (an ``HfHubHTTPError`` or a transport error)."""
    subject = f"model {model_id!r}" if model_id else "the request"
    details: dict[str, Any] = {"model_id": model_id} if model_id else {}
    page = f"{endpoint}/{model_id}" if model_id else endpoint
    if isinstance(exc, hf_errors.GatedRepoError | hf_errors.DisabledRepoError):
        return access_denied(
            endpoint, model_id, disabled=isinstance(exc, hf_errors.DisabledRepoError)
        )
    response = exc.response if isinstance(exc, hf_errors.HfHubHTTPError) else None
    # Mirrors and proxies do not all send X-Error-Code: a bare 404 about a model is that model.
    bare_404 = model_id is not None and response is not None and response.status_code in (404, 410)
    if (
        isinstance(exc, hf_errors.RepositoryNotFoundError | hf_errors.RevisionNotFoundError)
        or bare_404
    ):
        return HubModelNotFoundError(
            f"{subject} was not found on the Hub",
            param="model_id" if model_id is not None else None,
            details=details,
            resolution_steps=[
                "Check the id (org/name, as on the model's Hub page).",
                "If the repository is private, set HF_TOKEN to a token that can read it.",
            ],
        )
    if isinstance(exc, hf_errors.HfHubHTTPError):
        response = exc.response
        status = response.status_code if response is not None else 0
        if status in (401, 403):
            return HubAccessDeniedError(
                f"the Hub refused access to {subject} ({status})",
                details={**details, "hub_status": status, "gated": False},
                resolution_steps=[
                    "Check that HF_TOKEN (or MODEL_MANAGER_HF_TOKEN) is valid and can read "
                    "this repository.",
                    f"If the model is gated, accept its licence on {page}.",
                ],
            )
        if status == 429 or status >= 500:
            return _unavailable(endpoint, f"it answered {status}", _retry_after(response))
        return HubResponseError(
            f"the Hub answered {status} for {subject}",
            details={**details, "hub_status": status},
        )
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        hub_down = _unavailable(endpoint, "offline mode is on", str(DEFAULT_RETRY_AFTER_S))
        hub_down.resolution_steps = ["Unset HF_HUB_OFFLINE to reach the Hub."]
        return hub_down
    if isinstance(exc, httpx2.TimeoutException):
        return _unavailable(endpoint, "it did not answer in time", str(DEFAULT_RETRY_AFTER_S))
    if isinstance(exc, httpx2.ConnectError | httpx2.ProxyError | httpx2.UnsupportedProtocol):
        why = f"it could not be reached ({type(exc).__name__})"
        return _unavailable(endpoint, why, str(DEFAULT_RETRY_AFTER_S))
    if isinstance(exc, httpx2.TransportError):
        why = f"the connection broke before the answer was complete ({type(exc).__name__})"
        return _unavailable(endpoint, why, str(DEFAULT_RETRY_AFTER_S))
    return HubResponseError(f"unexpected answer from the Hub for {subject}", details=details)


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

    def _fail(self, operation: str, exc: BaseException, model_id: str | None) -> ManagerError:
        error = hub_error(exc, endpoint=self.endpoint, model_id=model_id)
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
    ) -> httpx2.Response:
        try:
            _check_online()
            response = await self.client.get(url, params=tuple(params or ()), headers=self._headers)
            hf_raise_for_status(response)
        except (hf_errors.HfHubHTTPError, httpx2.TransportError, OSError) as exc:
            if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
                self._count(operation, "not_found")
                raise FileNotOnHub(url) from exc
            raise self._fail(operation, exc, model_id) from exc
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

    async def model_info(self, repo_id: str, *, blobs: bool = False) -> dict[str, Any]:
        """``GET /api/models/{repo_id}`` (with file sizes and LFS hashes when ``blobs``)."""
        url = f"{self.endpoint}/api/models/{quote(repo_id, safe='/')}"
        params = [("blobs", "true")] if blobs else None
        response = await self._get("model_info", url, params=params, model_id=repo_id)
        info = self._json("model_info", response, repo_id)
        if not isinstance(info, dict) or not isinstance(info.get("id"), str):
            self._count("model_info", "error")
            raise HubResponseError(
                f"the Hub's description of {repo_id!r} has no id", details={"model_id": repo_id}
            )
        self._count("model_info", "ok")
        return info

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
