"""HTTP requests with exactly the ``Host`` and ``Origin`` a browser under attack would send.

httpx derives ``Host`` from the URL; ``http.client`` with ``skip_host`` sends only the headers
given here, so a test can send a foreign ``Host``, none at all, or any ``Origin``.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from modelyard_dev.procs import LOOPBACK, Service


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    service: Service,
    method: str,
    path: str,
    *,
    host: str | None,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
) -> Reply:
    """One request on a fresh connection; ``host=None`` sends no ``Host`` header."""
    conn = http.client.HTTPConnection(LOOPBACK, service.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        if origin is not None:
            conn.putheader("Origin", origin)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def loopback_host(service: Service) -> str:
    return f"{LOOPBACK}:{service.port}"


def assert_refused(reply: Reply, code: str) -> dict[str, Any]:
    """403 in the envelope with ``code``; returns the error object."""
    assert reply.status == 403, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = reply.json()["error"]
    assert error["code"] == code, error
    assert error["type"] == "permission_error" and error["message"]
    assert error["resolution_steps"], error
    return error
