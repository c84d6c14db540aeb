"""Cross-site requests: a request whose ``Origin`` is not allowed is refused before any route.

Reproduction (before the Origin check): a page on evil.example runs

    fetch("http://127.0.0.1:8000/api/storage/cleanup?dry_run=false",
          {method: "POST", mode: "no-cors"})

The browser sends it without a preflight (a "simple" request, ``Origin: http://evil.example``),
and the cleanup ran; CORS only kept the page from reading the answer. The same held for
``/api/inference/models/{id}/load|unload`` and the inference server's
``/admin/models/{id}/load``. The tests below send raw ``Origin`` headers to real uvicorn
processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import install_files_in_cache, repo_folder_name
from tests.hardening.conftest import MODEL
from tests.hardening.raw_http import Reply, assert_refused, loopback_host, request

UI_ORIGIN = "http://ui.example.test"  # MODEL_MANAGER_CORS_ORIGINS
LAB_ORIGIN = "http://lab.example.test"  # MLX_SERVER_CORS_ORIGINS
LISTED_NAME = "models.example.test"  # MODEL_MANAGER_ALLOWED_HOSTS
EVIL_ORIGINS = (
    "http://evil.example",
    "https://evil.example",
    "null",
    "http://ui.example.test.evil.example",
    "http://localhost:3000",  # a default origin, but this manager lists its own
)
REPO = "org/partial"


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cross-site-hf")
    install_files_in_cache(cache, REPO, {"config.json": b'{"model_type": "llama"}'})
    return cache


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, hf: Path
) -> Iterator[tuple[Service, Service]]:
    logs = tmp_path_factory.mktemp("cross-site-logs")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(hf),
            "MLX_SERVER_CORS_ORIGINS": LAB_ORIGIN,
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("cross-site-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(hf),
            "MODEL_MANAGER_MODELS_DIR": str(tmp_path_factory.mktemp("cross-site-models")),
            "MODEL_MANAGER_CLEANUP_GRACE_S": "0",
            "MODEL_MANAGER_CORS_ORIGINS": UI_ORIGIN,
            "MODEL_MANAGER_ALLOWED_HOSTS": LISTED_NAME,
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


def partial_file(hf: Path) -> Path:
    """A partial download that storage cleanup removes (grace 0, no job owns it)."""
    path = hf / repo_folder_name(REPO) / "blobs" / "0123abcd.incomplete"
    path.write_bytes(b"half a file")
    return path


def loaded(inference: Service) -> list[str]:
    pool = request(inference, "GET", "/admin/pool", host=loopback_host(inference))
    return [slot["id"] for slot in pool.json()["slots"]]


def cleanup(manager: Service, *, host: str, origin: str | None) -> Reply:
    return request(manager, "POST", "/api/storage/cleanup?dry_run=false", host=host, origin=origin)


def test_cleanup_from_a_foreign_origin_is_refused(
    services: tuple[Service, Service], hf: Path
) -> None:
    """``POST /api/storage/cleanup?dry_run=false`` with ``Origin: http://evil.example`` and no
    body used to run the cleanup; now 403 ``origin_not_allowed`` and nothing is removed. The
    CORS preflight from that origin is refused the same way."""
    manager, _ = services
    partial = partial_file(hf)
    host = loopback_host(manager)
    for origin in EVIL_ORIGINS:
        error = assert_refused(cleanup(manager, host=host, origin=origin), "origin_not_allowed")
        assert error["src"] == "manager"
        preflight = request(
            manager,
            "OPTIONS",
            "/api/storage/cleanup",
            host=host,
            origin=origin,
            headers={"Access-Control-Request-Method": "POST"},
        )
        assert_refused(preflight, "origin_not_allowed")
        assert "access-control-allow-origin" not in preflight.headers
    assert partial.exists()


def test_pool_actions_from_a_foreign_origin_are_refused(
    services: tuple[Service, Service],
) -> None:
    """``POST /api/inference/models/{id}/load`` (manager) and ``POST /admin/models/{id}/load``
    (inference server) from a foreign origin used to load the model; now 403, nothing loads."""
    manager, inference = services
    evil = "http://evil.example"
    for path in (f"/api/inference/models/{MODEL}/load", f"/api/inference/models/{MODEL}/unload"):
        reply = request(manager, "POST", path, host=loopback_host(manager), origin=evil)
        assert_refused(reply, "origin_not_allowed")
    reply = request(
        inference, "POST", f"/admin/models/{MODEL}/load", host=loopback_host(inference), origin=evil
    )
    assert assert_refused(reply, "origin_not_allowed")["src"] == "inference_server"
    assert loaded(inference) == []


def test_same_origin_and_listed_origins_are_answered(
    services: tuple[Service, Service], hf: Path
) -> None:
    """A page served by the manager itself posts with its own origin (scheme://Host): answered,
    by a loopback address or a listed host name; so is a page from MODEL_MANAGER_CORS_ORIGINS,
    which also gets the CORS headers. The same name on another port is another origin."""
    manager, _ = services
    port = manager.port
    for host, origin in (
        (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"),
        (f"{LISTED_NAME}:{port}", f"http://{LISTED_NAME}:{port}"),
        (f"{LISTED_NAME}:{port}", f"https://{LISTED_NAME}:{port}"),  # behind a TLS proxy
        (LISTED_NAME, f"https://{LISTED_NAME}"),
        (loopback_host(manager), UI_ORIGIN),
    ):
        partial = partial_file(hf)
        reply = cleanup(manager, host=host, origin=origin)
        assert reply.status == 200, (host, origin, reply.body)
        assert str(partial) in [item["path"] for item in reply.json()["removed"]]
        assert not partial.exists()
    listed = cleanup(manager, host=loopback_host(manager), origin=UI_ORIGIN)
    assert listed.headers["access-control-allow-origin"] == UI_ORIGIN
    for host, origin in (
        (f"{LISTED_NAME}:{port}", f"http://{LISTED_NAME}:{port + 1}"),
        (LISTED_NAME, f"http://{LISTED_NAME}:8080"),
        (f"evil.example:{port}", f"http://evil.example:{port}"),  # a rebinding page
    ):
        reply = cleanup(manager, host=host, origin=origin)
        assert reply.status == 403, (host, origin, reply.body)


def test_the_inference_server_answers_its_own_origins(services: tuple[Service, Service]) -> None:
    """The inference server allows MLX_SERVER_CORS_ORIGINS (with CORS headers) and its own
    origin, and refuses the rest."""
    _, inference = services
    host = loopback_host(inference)
    reply = request(inference, "GET", "/admin/pool", host=host, origin=LAB_ORIGIN)
    assert reply.status == 200 and reply.headers["access-control-allow-origin"] == LAB_ORIGIN
    own = request(inference, "GET", "/admin/pool", host=host, origin=f"http://{host}")
    assert own.status == 200
    for origin in (UI_ORIGIN, "http://evil.example", "http://localhost:3000"):
        reply = request(inference, "GET", "/admin/pool", host=host, origin=origin)
        assert_refused(reply, "origin_not_allowed")


def test_completions_from_an_allowed_origin_pass_through_the_manager(
    services: tuple[Service, Service],
) -> None:
    """A page from MODEL_MANAGER_CORS_ORIGINS chats through the manager, although the
    inference server does not list that origin: the manager checks it and does not forward
    it. A foreign origin is refused by the manager before anything is forwarded."""
    manager, inference = services
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    host = loopback_host(manager)
    refused = request(
        manager,
        "POST",
        "/v1/chat/completions",
        host=host,
        origin="http://evil.example",
        json_body=chat,
    )
    assert_refused(refused, "origin_not_allowed")
    assert loaded(inference) == []
    reply = request(
        manager, "POST", "/v1/chat/completions", host=host, origin=UI_ORIGIN, json_body=chat
    )
    assert reply.status == 200, reply.body
    assert reply.json()["choices"][0]["message"]["role"] == "assistant"
