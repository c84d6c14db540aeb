"""The manager's REST API over HTTP, with its error envelope turned into ``CliError``.

Exit codes (the same for every command):

    0  the command did what it was asked
    1  it failed (the manager's message and resolution steps are printed)
    2  usage error (an unknown option, a missing argument)
    3  the manager could not be reached
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "MODEL_MANAGER_API_TOKEN"
URL_ENV = "MODELYARD_URL"


class CliError(Exception):
    """A failure to report: one message, the steps that fix it, an exit code."""

    def __init__(
        self,
        message: str,
        *,
        steps: Sequence[str] = (),
        exit_code: int = EXIT_FAILURE,
        code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.steps = list(steps)
        self.exit_code = exit_code
        self.code = code
        self.status = status
        self.details = dict(details or {})
        self.retry_after: float | None = None

    def envelope(self) -> dict[str, Any]:
        """The error as the manager's envelope (for ``--json``)."""
        return {
            "error": {
                "message": self.message,
                "code": self.code,
                "status": self.status,
                "details": self.details,
                "resolution_steps": self.steps,
            }
        }


def model_path(model_id: str) -> str:
    """A model id as a URL path (``org/name`` keeps its slash)."""
    return quote(model_id, safe="/")


def error_from_body(status: int, body: Any, *, fallback: str) -> CliError:
    """The envelope ``{"error": {...}}`` (or anything else a server said) as a ``CliError``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        steps = [s for s in error.get("resolution_steps") or [] if isinstance(s, str)]
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
        code = error.get("code")
        if status == 401 and not steps:
            steps = [f"Pass the manager's token with --token or {TOKEN_ENV}."]
        return CliError(
            error["message"],
            steps=steps,
            code=str(code) if code is not None else None,
            status=status,
            details=details,
        )
    detail = body.get("detail") if isinstance(body, dict) else None
    message = str(detail) if detail else fallback
    return CliError(f"HTTP {status}: {message}", status=status)


def unreachable(url: str, exc: Exception) -> CliError:
    return CliError(
        f"cannot reach the manager at {url} ({type(exc).__name__})",
        steps=[
            "Start it with `modelyard serve` (or scripts/run.sh).",
            f"Or point the command at it with --url or {URL_ENV}.",
        ],
        exit_code=EXIT_UNREACHABLE,
        code="manager_unreachable",
    )


class ManagerClient:
    """A synchronous client of one manager; every failure is raised as ``CliError``."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0)
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ManagerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        timeout: float | None = None,
        allow_404: bool = False,
    ) -> Any:
        """The decoded JSON answer (None for 204, or for a 404 when ``allow_404``)."""
        kwargs: dict[str, Any] = {"params": params, "json": json_body}
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout, connect=5.0)
        with self._errors():
            response = self.http.request(method, path, **kwargs)
        if allow_404 and response.status_code == 404:
            return None
        self.raise_for_status(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise CliError(f"the manager answered {path} with something that is not JSON") from exc

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Iterator[httpx.Response]:
        """A streamed answer whose status was checked (the body is read on an error)."""
        timeout = httpx.Timeout(30.0, connect=5.0, read=read_timeout)
        with (
            self._errors(),
            self.http.stream(
                method, path, json=json_body, headers=dict(headers or {}), timeout=timeout
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                self.raise_for_status(response)
            yield response

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise unreachable(self.url, exc) from exc
        except httpx.RemoteProtocolError as exc:
            raise CliError(
                f"the connection to the manager at {self.url} broke off",
                steps=["Check that the manager is still running (`modelyard doctor`)."],
                exit_code=EXIT_UNREACHABLE,
                code="manager_unreachable",
            ) from exc
        except httpx.TimeoutException as exc:
            raise CliError(
                f"the manager at {self.url} did not answer in time ({type(exc).__name__})",
                steps=["Try again; `modelyard doctor` checks both processes."],
            ) from exc

    @staticmethod
    def raise_for_status(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        fallback = response.text[:200].strip() or response.reason_phrase
        error = error_from_body(response.status_code, body, fallback=fallback)
        with contextlib.suppress(ValueError):
            error.retry_after = float(response.headers.get("retry-after", ""))
        raise error
