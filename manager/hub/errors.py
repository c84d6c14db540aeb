"""Every Hub failure, mapped once to the manager's tree.

The Hub API calls (:mod:`manager.hub.client`, through huggingface_hub's ``hf_raise_for_status``)
and the byte transfers (:mod:`manager.downloads.transfer`, plain httpx) both end here: the first
with an exception (:func:`hub_error`), the second with a status and headers
(:func:`status_error`). Both reach :func:`_from_status`, so a status means the same thing
wherever it was answered:

=========================================================  ======================================
Hub answer                                                 manager error
=========================================================  ======================================
``GatedRepo``, disabled repository                         ``HubAccessDeniedError`` (403), steps
                                                           that open it
any other 401 / 403                                        ``HubAccessDeniedError`` (403), check
                                                           the token
``RepoNotFound``                                           ``HubModelNotFoundError`` (404)
``RevisionNotFound``                                       ``HubRevisionNotFound`` (404)
``EntryNotFound``, or 404 / 410 on a file                  ``HubModelNotFoundError`` (404), the
                                                           file named
404 / 410 without ``X-Error-Code`` about a model           ``HubNotFoundUnspecified`` (404)
408, 425, 429, 5xx; connection refused / reset, timeout    ``HubUnavailableError`` (503,
                                                           ``Retry-After``)
anything else                                              ``HubResponseError`` (502)
=========================================================  ======================================

``Retry-After`` is read once (:func:`parse_retry_after`: seconds or an HTTP date, capped; a value
that is no wait is absent) and, when the Hub gave none, :data:`DEFAULT_RETRY_AFTER_S` applies.
The token never appears in a message.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx2
from huggingface_hub import errors as hf_errors

from manager.errors import (
    HubAccessDeniedError,
    HubModelNotFoundError,
    HubResponseError,
    HubUnavailableError,
    ManagerError,
)

DEFAULT_RETRY_AFTER_S = 5
MAX_RETRY_AFTER_S = 120.0
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class HubNotFoundUnspecified(HubModelNotFoundError):
    """A 404 without ``X-Error-Code`` (mirrors and proxies may not send it): the model or the
    revision is missing, the answer does not say which."""


class HubRevisionNotFound(HubModelNotFoundError):
    """The repository is there; the revision asked for is not."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    A value that is no wait at all (``nan``, ``inf``, a negative number, garbage) is treated
    as absent: the caller's own backoff applies. A date in the past means "now" (0).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            return None
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def is_retryable(status: int) -> bool:
    """A status worth another try (the Hub is busy or failing, not refusing)."""
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_header(retry_after_s: float | None) -> dict[str, str]:
    """``Retry-After`` for a 503: the Hub's own wait when it gave one, else the default."""
    wait = DEFAULT_RETRY_AFTER_S if retry_after_s is None else math.ceil(retry_after_s)
    return {"Retry-After": str(wait)}


def unavailable(endpoint: str, why: str, retry_after_s: float | None) -> HubUnavailableError:
    """503 with ``Retry-After`` (see :func:`retry_after_header`)."""
    error = HubUnavailableError(
        f"the Hugging Face Hub is unavailable: {why}",
        details={"endpoint": endpoint},
        resolution_steps=[
            "Retry in a moment.",
            "Check the network, or HF_ENDPOINT / MODEL_MANAGER_HF_ENDPOINT if it is set.",
        ],
        headers=retry_after_header(retry_after_s),
    )
    error.retry_after_s = retry_after_s
    return error


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


def model_not_found(model_id: str | None, details: dict[str, Any]) -> HubModelNotFoundError:
    subject = f"model {model_id!r}" if model_id else "the request"
    return HubModelNotFoundError(
        f"{subject} was not found on the Hub",
        param="model_id" if model_id is not None else None,
        details=details,
        resolution_steps=[
            "Check the id (org/name, as on the model's Hub page).",
            "If the repository is private, set HF_TOKEN (or MODEL_MANAGER_HF_TOKEN) to a token "
            "that can read it.",
        ],
    )


def revision_not_found(
    model_id: str | None, revision: str | None, details: dict[str, Any]
) -> HubRevisionNotFound:
    return HubRevisionNotFound(
        f"revision {revision!r} of {model_id!r} was not found on the Hub",
        param="revision",
        details=details,
        resolution_steps=["Check the branch, tag or commit name."],
    )


def _from_status(
    status: int,
    error_code: str | None,
    retry_after: str | None,
    *,
    endpoint: str,
    model_id: str | None,
    revision: str | None,
    path: str | None,
    disabled: bool = False,
) -> ManagerError:
    """The one mapping from a failed Hub answer to the manager's error."""
    details: dict[str, Any] = {"model_id": model_id} if model_id else {}
    if revision is not None:
        details["revision"] = revision
    if path is not None:
        details["path"] = path
    subject = f"model {model_id!r}" if model_id else "the request"
    if path is not None:
        subject = f"{path!r} of {model_id!r}"
    if error_code == "GatedRepo" or disabled:
        return access_denied(endpoint, model_id, disabled=disabled)
    if error_code == "RepoNotFound":
        return model_not_found(model_id, details)
    if error_code == "RevisionNotFound":
        return revision_not_found(model_id, revision, details)
    if status in (401, 403):
        page = f"{endpoint}/{model_id}" if model_id else endpoint
        return HubAccessDeniedError(
            f"the Hub refused access to {subject} ({status})",
            details={**details, "hub_status": status, "gated": False},
            resolution_steps=[
                "Check that HF_TOKEN (or MODEL_MANAGER_HF_TOKEN) is valid and can read this "
                "repository.",
                f"If the model is gated, accept its licence on {page}.",
            ],
        )
    if path is not None and (error_code == "EntryNotFound" or status in (404, 410)):
        return HubModelNotFoundError(
            f"{subject} was not found on the Hub",
            details={**details, "hub_status": status},
            resolution_steps=["The file or the commit is gone; start the download again."],
        )
    if model_id is not None and status in (404, 410):
        # Mirrors and proxies do not all send X-Error-Code: a bare 404 about a model is that
        # model (or its revision: the caller may ask which).
        return HubNotFoundUnspecified(
            f"{subject} was not found on the Hub",
            param="model_id",
            details=details,
            resolution_steps=model_not_found(model_id, details).resolution_steps,
        )
    if is_retryable(status):
        return unavailable(endpoint, f"it answered {status}", parse_retry_after(retry_after))
    return HubResponseError(
        f"the Hub answered {status} for {subject}", details={**details, "hub_status": status}
    )


def status_error(
    status: int,
    headers: Mapping[str, str],
    *,
    endpoint: str,
    model_id: str,
    path: str | None = None,
) -> ManagerError:
    """The manager error for a failed answer read without huggingface_hub (the byte engine)."""
    return _from_status(
        status,
        headers.get("X-Error-Code"),
        headers.get("Retry-After"),
        endpoint=endpoint,
        model_id=model_id,
        revision=None,
        path=path,
    )


_CODES: tuple[tuple[type[Exception], str], ...] = (
    (hf_errors.GatedRepoError, "GatedRepo"),
    (hf_errors.RepositoryNotFoundError, "RepoNotFound"),
    (hf_errors.RevisionNotFoundError, "RevisionNotFound"),
    (hf_errors.RemoteEntryNotFoundError, "EntryNotFound"),
)


def hub_error(
    exc: BaseException,
    *,
    endpoint: str,
    model_id: str | None = None,
    revision: str | None = None,
) -> ManagerError:
    """The manager error for a failed Hub call (an ``HfHubHTTPError`` or a transport error)."""
    if isinstance(exc, hf_errors.HfHubHTTPError):
        response = exc.response
        code = next((c for cls, c in _CODES if isinstance(exc, cls)), None)
        if code is None and response is not None:
            code = response.headers.get("X-Error-Code")
        return _from_status(
            response.status_code if response is not None else 0,
            code,
            response.headers.get("Retry-After") if response is not None else None,
            endpoint=endpoint,
            model_id=model_id,
            revision=revision,
            path=None,
            disabled=isinstance(exc, hf_errors.DisabledRepoError),
        )
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        hub_down = unavailable(endpoint, "offline mode is on", None)
        hub_down.resolution_steps = ["Unset HF_HUB_OFFLINE to reach the Hub."]
        return hub_down
    if isinstance(exc, httpx2.TimeoutException):
        return unavailable(endpoint, "it did not answer in time", None)
    if isinstance(exc, httpx2.ConnectError | httpx2.ProxyError | httpx2.UnsupportedProtocol):
        return unavailable(endpoint, f"it could not be reached ({type(exc).__name__})", None)
    if isinstance(exc, httpx2.TransportError):
        why = f"the connection broke before the answer was complete ({type(exc).__name__})"
        return unavailable(endpoint, why, None)
    subject = f"model {model_id!r}" if model_id else "the request"
    details = {"model_id": model_id} if model_id else {}
    return HubResponseError(f"unexpected answer from the Hub for {subject}", details=details)
