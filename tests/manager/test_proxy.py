"""The /v1 proxy: bytes forwarded unchanged, headers curated, failures in the envelope."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from manager.app import create_app
from manager.proxy.routes import ForwardedPaths
from manager.settings import ManagerSettings
from tests.manager.conftest import AppClientFactory
from tests.manager.upstream import serve_upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_upstream() as url:
        yield url


async def test_body_and_query_forwarded_unchanged(
    app_client: AppClientFactory, upstream: str
) -> None:
    raw = b'{"model": "m",   "messages": [], "unknown_field": 1}'
    async with app_client(inference_url=upstream) as (_app, client):
        response = await client.post(
            "/v1/chat/completions?x=1&x=2",
            content=raw,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["body"] == raw.decode()
    assert echoed["path"] == "chat/completions"
    assert echoed["query"] == "x=1&x=2"
    assert response.headers["x-upstream"] == "yes"
    assert response.headers["x-accel-buffering"] == "no"


async def test_headers_curated(app_client: AppClientFactory, upstream: str) -> None:
    async with app_client(inference_url=upstream, inference_api_key="inner-key") as (_a, client):
        response = await client.post(
            "/v1/completions",
            json={"model": "m"},
            headers={
                "Authorization": "Bearer client-token",
                "Cookie": "session=1",
                "X-Request-ID": "trace-123",
                "X-Custom": "kept",
            },
        )
    sent = response.json()["headers"]
    assert sent["authorization"] == "Bearer inner-key"
    assert "cookie" not in sent
    assert sent["x-request-id"] == "trace-123"
    assert sent["x-custom"] == "kept"
    assert response.headers["x-request-id"] == "trace-123"


async def test_upstream_status_and_body_passed_through(
    app_client: AppClientFactory, upstream: str
) -> None:
    async with app_client(inference_url=upstream) as (_app, client):
        response = await client.post("/v1/chat/completions", json={"status": 404})
    assert response.status_code == 404


async def test_event_stream_relayed(app_client: AppClientFactory, upstream: str) -> None:
    async with app_client(inference_url=upstream) as (_app, client):
        response = await client.post("/v1/chat/completions", json={"stream": True, "chunks": 4})
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert [json.loads(f.removeprefix("data: "))["index"] for f in frames[:-1]] == [0, 1, 2, 3]


async def test_upstream_drop_mid_stream_sends_error_frame(
    app_client: AppClientFactory, upstream: str
) -> None:
    async with app_client(inference_url=upstream) as (_app, client):
        response = await client.post(
            "/v1/chat/completions", json={"stream": True, "chunks": 2, "drop": True}
        )
        metrics = (await client.get("/metrics")).text
    frames = [f for f in response.text.split("\n\n") if f]
    assert len(frames) == 3
    error = json.loads(frames[-1].removeprefix("data: "))["error"]
    assert error["src"] == "manager"
    assert error["code"] == "upstream_disconnected"
    assert 'modelyard_manager_proxy_upstream_errors_total{kind="dropped"} 1.0' in metrics


async def test_unreachable_upstream_is_503_after_retries(app_client: AppClientFactory) -> None:
    async with app_client(proxy_connect_retries=2) as (_app, client):
        response = await client.post("/v1/chat/completions", json={"model": "m"})
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 503
    assert response.headers["retry-after"]
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["src"] == "manager"
    assert error["resolution_steps"]
    assert "modelyard_manager_proxy_connect_retries_total 2.0" in metrics


async def test_body_over_cap_is_413(app_client: AppClientFactory, upstream: str) -> None:
    async with app_client(inference_url=upstream, max_body_bytes=2048) as (_app, client):
        response = await client.post(
            "/v1/chat/completions",
            content=b"x" * 4096,
            headers={"content-type": "application/json"},
        )

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(4):
                yield b"y" * 1024

        streamed = await client.post(
            "/v1/completions", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert streamed.status_code == 413
    assert streamed.json()["error"]["src"] == "manager"


async def test_forwarded_requests_keep_route_metrics_and_405(
    app_client: AppClientFactory, upstream: str
) -> None:
    # POSTs to the forwarded paths skip the router; they must still be counted under their
    # route, and other methods on those paths still get the router's 405.
    async with app_client(inference_url=upstream) as (_app, client):
        await client.post("/v1/completions", json={"model": "m"})
        wrong_method = await client.get("/v1/chat/completions")
        metrics = (await client.get("/metrics")).text
    assert (
        'modelyard_manager_http_requests_total{method="POST",route="/v1/completions",'
        'status="200"} 1.0'
    ) in metrics
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_declared_routes_forward_like_the_fast_path(
    app_client: AppClientFactory, make_settings: Callable[..., ManagerSettings], upstream: str
) -> None:
    request = {"stream": True, "chunks": 3}
    async with app_client(inference_url=upstream) as (_app, client):
        fast = await client.post("/v1/chat/completions", json=request)
    app = create_app(make_settings(inference_url=upstream))
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ForwardedPaths]  # type: ignore[comparison-overlap]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            routed = await client.post("/v1/chat/completions", json=request)
    assert routed.status_code == fast.status_code == 200
    assert routed.text == fast.text
    assert routed.headers["content-type"] == fast.headers["content-type"]


@pytest.fixture
def garbage_upstream() -> Iterator[str]:
    """A loopback server that answers every connection with bytes that are not HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"THIS IS NOT HTTP\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


async def test_unreadable_upstream_answer_is_502(
    app_client: AppClientFactory, garbage_upstream: str
) -> None:
    async with app_client(inference_url=garbage_upstream) as (_app, client):
        response = await client.post("/v1/chat/completions", json={"model": "m"})
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "BAD_GATEWAY"
    assert error["src"] == "manager"
    assert 'modelyard_manager_proxy_upstream_errors_total{kind="invalid"} 1.0' in metrics
