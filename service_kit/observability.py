"""The observability contract both processes share: request ids, JSON logs, HTTP metrics.

- ``X-Request-ID`` is accepted from the client (or generated), returned on the response,
  put in every log line of the request, and forwarded by the manager to the inference
  server so one request can be followed across both logs.
- Logs are one line per event: human-readable in a terminal, JSON otherwise (or when the
  process's ``LOG_FORMAT`` setting says so).
- One access line per request (method, path, status, time) carries the request id; the query
  string is left out, so nothing a client puts there is logged.
- ``RequestMetrics`` counts requests by route template and status, with latency histograms,
  in a registry owned by the app (no global registry).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


def current_request_id() -> str | None:
    return request_id_var.get()


# Record attributes that are not extras: the standard ones, and uvicorn's copy of the message
# with terminal colours in it.
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}
ACCESS_LOGGER = "access"
_QUIET_PATHS = frozenset({"/health", "/metrics"})


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RESERVED and not key.startswith("_")
    }


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in _extras(record).items():
            entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``12:00:01.123 INFO  manager  message  key=value [request id]`` for people."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = (
            f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {self._service}  "
            f"{record.getMessage()}"
        )
        extras = _extras(record)
        if extras:
            line += "  " + " ".join(f"{key}={value}" for key, value in extras.items())
        request_id = request_id_var.get()
        if request_id:
            line += f"  [{request_id}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(service: str, level: str, log_format: str = "auto") -> None:
    """Lines on stderr for the root logger and uvicorn's loggers: ``text`` for people,
    ``json`` for machines, ``auto`` picks text when stderr is a terminal."""
    handler = logging.StreamHandler()
    text = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    handler.setFormatter(TextFormatter(service) if text else JSONFormatter(service))
    # uvicorn's access lines (which uvicorn re-enables) repeat the one access line we write.
    handler.addFilter(lambda record: record.name != "uvicorn.access")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # One line per outgoing HTTP request (proxy, Hub) is noise at INFO; failures are logged
    # by our own code with context. At DEBUG they stay.
    if root.level > logging.DEBUG:
        for name in ("httpx", "httpcore", "httpx2", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)


def uvicorn_log_config() -> dict[str, Any]:
    """A uvicorn log config that leaves formatting to ``configure_logging``."""
    return {"version": 1, "disable_existing_loggers": False}


class RequestMetrics:
    """HTTP metrics in the app's own registry."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.requests = Counter(
            f"{prefix}_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "Time to the end of the response, by route template.",
            ["route", "method"],
            registry=registry,
            buckets=(
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
                30,
                60,
            ),
        )


def _route_template(scope: Scope) -> str:
    matched = scope.get("route")
    path = getattr(matched, "path_format", None) or getattr(matched, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    router = getattr(app, "router", None)
    for route in getattr(router, "routes", []):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unknown"))
    return "unmatched"


class RequestContextMiddleware:
    """Request id in, request id out, metrics for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                supplied = value.decode("latin-1")
                break
        request_id = supplied if supplied and _VALID_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "GET")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            path = scope.get("path", "")
            logging.getLogger(ACCESS_LOGGER).log(
                logging.DEBUG if path in _QUIET_PATHS else logging.INFO,
                "%s %s %d %.1f ms",
                method,
                path,
                status,
                elapsed * 1000,
            )
            request_id_var.reset(token)
