"""Connections and bodies are bounded on both processes.

Reproductions (before):

- Connections that never finish their request head were held forever: 1,100 sockets that
  send ``GET / HTTP/1.1\\r\\n`` and stop starved ``/health`` at the default file limit. Now a
  head not complete within ``*_HEADER_TIMEOUT_S`` closes the connection.
- uvicorn's connection limit and keep-alive timeout were fixed in code; now they are the
  settings ``*_LIMIT_CONCURRENCY`` (503 in the envelope past it) and ``*_TIMEOUT_KEEP_ALIVE_S``.
- The inference server had no body cap: 40 MB sent straight to port 8001 blocked it for
  56 s. Now ``MLX_SERVER_MAX_BODY_BYTES`` answers 413 in the envelope, as the manager does.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard_dev.procs import LOOPBACK, Service, inference_service, manager_service
from tests.hardening.conftest import assert_envelope

BODY_CAP = 1024
WAIT_S = 60.0  # how long a test waits for the server to act; never a measured bound


def manager_with(tmp_path: Path, env: dict[str, str]) -> Service:
    return manager_service(
        {
            "MODEL_MANAGER_DATA_DIR": str(tmp_path / "data"),
            "MODEL_MANAGER_HF_CACHE_DIR": str(tmp_path / "hf"),
            "MODEL_MANAGER_INFERENCE_URL": "http://127.0.0.1:9",
            **env,
        },
        log_dir=tmp_path,
    )


@pytest.fixture(scope="module")
def quick(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Iterator[tuple[Service, Service]]:
    """Both processes with a short head deadline and keep-alive, and a small body cap."""
    logs = tmp_path_factory.mktemp("connections-logs")
    manager = manager_with(
        logs,
        {"MODEL_MANAGER_HEADER_TIMEOUT_S": "1", "MODEL_MANAGER_TIMEOUT_KEEP_ALIVE_S": "3"},
    )
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(tmp_path_factory.mktemp("connections-hf")),
            "MLX_SERVER_HEADER_TIMEOUT_S": "1",
            "MLX_SERVER_TIMEOUT_KEEP_ALIVE_S": "3",
            "MLX_SERVER_MAX_BODY_BYTES": str(BODY_CAP),
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield manager, inference
        finally:
            manager.stop()
    finally:
        inference.stop()


def connect(service: Service) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, service.port), timeout=WAIT_S)
    sock.settimeout(WAIT_S)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """One response (head and ``Content-Length`` body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the body"
        body += chunk
    assert len(body) == length
    return head


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_request_head_that_never_ends_is_closed(quick: tuple[Service, Service]) -> None:
    """A connection that sends nothing, or half a head, is closed by the server; before, it
    stayed open for as long as the client liked."""
    for service in quick:
        with connect(service) as silent, connect(service) as partial:
            partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            assert read_until_closed(silent) == b""
            assert read_until_closed(partial) == b""
        assert httpx.get(service.url + "/health", timeout=10).status_code == 200


def test_a_kept_alive_connection_outlives_the_head_deadline(
    quick: tuple[Service, Service],
) -> None:
    """The head deadline does not apply between requests: a connection idle for longer than
    it (and shorter than the keep-alive timeout) still serves the next request, and is closed
    once idle past ``*_TIMEOUT_KEEP_ALIVE_S`` (fixed at 30 s before)."""
    for service in quick:
        with connect(service) as sock:
            head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            sock.sendall(head)
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(1.5)  # past the 1 s head deadline, within the 3 s keep-alive
            sock.sendall(head)
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            # Closed once idle past the keep-alive: 3 s here, where uvicorn's default was 30 s.
            sock.settimeout(20)
            assert read_until_closed(sock) == b""


def test_the_inference_server_caps_bodies(quick: tuple[Service, Service]) -> None:
    """A body over MLX_SERVER_MAX_BODY_BYTES gets 413 in the envelope, declared or chunked."""
    _, inference = quick
    big = b'{"model": "local/tiny-a", "prompt": "' + b"x" * (2 * BODY_CAP) + b'"}'
    json_type = {"Content-Type": "application/json"}
    with httpx.Client(base_url=inference.url, timeout=30) as client:
        declared = client.post("/v1/completions", content=big, headers=json_type)
        error = assert_envelope(declared, 413, "PAYLOAD_TOO_LARGE")
        assert error["src"] == "inference_server"
        assert error["details"] == {"limit_bytes": BODY_CAP}
        assert "MLX_SERVER_MAX_BODY_BYTES" in error["resolution_steps"][0]
        chunked = client.post(
            "/v1/completions", content=iter([big[:700], big[700:]]), headers=json_type
        )
        assert_envelope(chunked, 413, "PAYLOAD_TOO_LARGE")
        small = client.post(
            "/v1/completions", json={"model": "local/tiny-a", "prompt": "hi", "max_tokens": 1}
        )
        assert small.status_code == 200, small.text


@pytest.mark.parametrize("process", ["manager", "inference_server"])
def test_the_connection_limit_answers_503_in_the_envelope(
    process: str, tmp_path: Path, models_dir: Path
) -> None:
    """Past ``*_LIMIT_CONCURRENCY`` open connections a request gets 503 in the envelope (with
    Retry-After), and is answered again once connections close."""
    if process == "manager":
        service = manager_with(
            tmp_path,
            {"MODEL_MANAGER_LIMIT_CONCURRENCY": "3", "MODEL_MANAGER_HEADER_TIMEOUT_S": "600"},
        )
    else:
        service = inference_service(
            {
                "MLX_SERVER_MODELS_DIRS": str(models_dir),
                "MLX_SERVER_HF_CACHE_DIR": str(tmp_path / "hf"),
                "MLX_SERVER_LIMIT_CONCURRENCY": "3",
                "MLX_SERVER_HEADER_TIMEOUT_S": "600",
            },
            log_dir=tmp_path,
        )
    service.start()
    try:
        with contextlib.ExitStack() as idle:
            for _ in range(3):
                idle.enter_context(connect(service))
            r = httpx.get(service.url + "/health", timeout=30)
            error = assert_envelope(r, 503, "SERVICE_UNAVAILABLE")
            assert error["src"] == process and error["details"] == {"limit_concurrency": 3}
            assert r.headers["retry-after"] == "1"
        deadline = time.monotonic() + WAIT_S
        while httpx.get(service.url + "/health", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "still refused after the connections closed"
            time.sleep(0.05)
    finally:
        service.stop()
