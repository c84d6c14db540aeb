"""DNS rebinding: a request whose ``Host`` does not name the server is refused, on both processes.

Reproduction (before the Host check): with no token, the default on loopback,

    curl -X DELETE :8000/api/models/local/org/tiny -H 'Host: evil.example:8000'

deleted the model, and ``POST /api/downloads`` and ``POST /api/models/import`` acted the same
way (the import also answered differently for existing and missing paths: a file-existence
oracle). A page on evil.example that re-points its name at 127.0.0.1 sends exactly these
requests, same-origin, so CORS never applies. The tests below send raw ``Host`` headers to
real uvicorn processes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard_dev.procs import Service, base_env, inference_service, manager_service
from modelyard_dev.tiny_model import install_files_in_cache, repo_folder_name
from tests.hardening.conftest import MODEL
from tests.hardening.raw_http import assert_refused, loopback_host, request

REPO = "org/tiny"
LISTED_NAME = "models.example.test"  # in MODEL_MANAGER_ALLOWED_HOSTS
INFERENCE_NAME = "inference.internal"  # in MLX_SERVER_ALLOWED_HOSTS
FOREIGN_HOSTS = (
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.evil.example:{port}",
    "localhost.evil.example",
    "models.example.test.evil.example",
    "0.0.0.0:{port}",
    "[::2]:{port}",
    "",
)


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    cache = tmp_path_factory.mktemp("rebinding-hf")
    files = {p.name: p.read_bytes() for p in (models_dir / "tiny-a").iterdir() if p.is_file()}
    install_files_in_cache(cache, REPO, files)
    return cache


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, hf: Path
) -> Iterator[tuple[Service, Service]]:
    logs = tmp_path_factory.mktemp("rebinding-logs")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(hf),
            "MLX_SERVER_ALLOWED_HOSTS": INFERENCE_NAME,
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("rebinding-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(hf),
            "MODEL_MANAGER_MODELS_DIR": str(tmp_path_factory.mktemp("rebinding-models")),
            "MODEL_MANAGER_ALLOWED_HOSTS": f"{LISTED_NAME}, other.name.test",
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


def foreign_hosts(service: Service) -> list[str]:
    return [host.format(port=service.port) for host in FOREIGN_HOSTS]


def test_delete_with_a_foreign_host_is_refused_and_the_model_stays(
    services: tuple[Service, Service], hf: Path
) -> None:
    """``DELETE /api/models/local/org/tiny`` with ``Host: evil.example:<port>`` used to
    delete the model (200); now 403 ``host_not_allowed`` and the model stays."""
    manager, _ = services
    path = f"/api/models/local/{REPO}"
    for host in foreign_hosts(manager):
        error = assert_refused(request(manager, "DELETE", path, host=host), "host_not_allowed")
        assert error["src"] == "manager"
        assert (hf / repo_folder_name(REPO) / "snapshots").is_dir()
    assert request(manager, "GET", path, host=loopback_host(manager)).status == 200
    # The same request with a loopback Host is answered: the refusal was the Host's doing.
    done = request(manager, "DELETE", path, host=f"localhost:{manager.port}")
    assert done.status == 200, done.body
    assert not (hf / repo_folder_name(REPO)).exists()


def test_downloads_and_imports_with_a_foreign_host_are_refused(
    services: tuple[Service, Service], tmp_path: Path
) -> None:
    """``POST /api/downloads`` and ``POST /api/models/import`` with a foreign Host used to act;
    now 403, and an existing path and a missing one get the same answer (no oracle)."""
    manager, _ = services
    host = f"evil.example:{manager.port}"
    download = request(
        manager, "POST", "/api/downloads", host=host, json_body={"model_id": "org/other"}
    )
    assert_refused(download, "host_not_allowed")
    jobs = request(manager, "GET", "/api/downloads", host=loopback_host(manager)).json()
    assert jobs["total"] == 0 and jobs["downloads"] == [], jobs
    existing = tmp_path / "folder"
    existing.mkdir()
    answers = []
    for path in (existing, tmp_path / "missing"):
        reply = request(
            manager,
            "POST",
            "/api/models/import",
            host=host,
            json_body={"path": str(path), "name": "imported"},
        )
        answers.append(assert_refused(reply, "host_not_allowed"))
    assert answers[0] == answers[1]
    listing = request(manager, "GET", "/api/models/local", host=loopback_host(manager)).json()
    assert "local/imported" not in [m["id"] for m in listing["data"]]


def test_loopback_names_and_listed_hosts_are_answered(services: tuple[Service, Service]) -> None:
    """Loopback names and addresses, and names in MODEL_MANAGER_ALLOWED_HOSTS (any case,
    any port, a trailing dot) are answered; a name that merely contains a listed one is not."""
    manager, _ = services
    port = manager.port
    for host in (
        f"127.0.0.1:{port}",
        "127.9.8.7",
        "localhost",
        f"LOCALHOST:{port}",
        f"[::1]:{port}",
        "[::1]",
        f"{LISTED_NAME}:{port}",
        f"{LISTED_NAME.upper()}.",
        "other.name.test:1",
    ):
        reply = request(manager, "GET", "/api/models/local", host=host)
        assert reply.status == 200, (host, reply.body)
    for host in (f"x.{LISTED_NAME}", f"{LISTED_NAME}.evil.example", f"{LISTED_NAME}:port"):
        assert_refused(request(manager, "GET", "/api/models/local", host=host), "host_not_allowed")


def test_no_host_header_and_health_are_answered(services: tuple[Service, Service]) -> None:
    """A request without ``Host`` (HTTP/1.0) is answered: browsers always send one, so the
    attack cannot produce it. ``/health`` answers any Host (orchestrators probe by IP)."""
    manager, inference = services
    assert request(manager, "GET", "/api/models/local", host=None).status == 200
    for service in (manager, inference):
        reply = request(service, "GET", "/health", host="evil.example")
        assert reply.status == 200 and reply.json() == {"status": "ok"}


def test_inference_server_refuses_a_foreign_host(services: tuple[Service, Service]) -> None:
    """The inference server had no Host check either: ``POST /admin/models/<id>/load`` and
    completions with ``Host: evil.example`` acted. Now 403; its listed name is answered."""
    _, inference = services
    for host in foreign_hosts(inference):
        load = request(inference, "POST", f"/admin/models/{MODEL}/load", host=host)
        assert assert_refused(load, "host_not_allowed")["src"] == "inference_server"
        chat = request(
            inference,
            "POST",
            "/v1/chat/completions",
            host=host,
            json_body={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert_refused(chat, "host_not_allowed")
    pool = request(inference, "GET", "/admin/pool", host=f"{INFERENCE_NAME}:{inference.port}")
    assert pool.status == 200 and pool.json()["slots"] == []


def _start_fails(module: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", module],
        env=base_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    return proc.stderr


def test_any_host_needs_a_token(tmp_path: Path) -> None:
    """``*`` in the allowed hosts without a token is refused at start-up, like a public bind
    without one; a host entry with a port is refused too."""
    error = _start_fails(
        "manager",
        {"MODEL_MANAGER_ALLOWED_HOSTS": "*", "MODEL_MANAGER_DATA_DIR": str(tmp_path)},
    )
    assert "MODEL_MANAGER_ALLOWED_HOSTS" in error and "MODEL_MANAGER_API_TOKEN" in error
    error = _start_fails("inference_server", {"MLX_SERVER_ALLOWED_HOSTS": "a.test,*"})
    assert "MLX_SERVER_ALLOWED_HOSTS" in error and "MLX_SERVER_API_KEY" in error
    error = _start_fails("manager", {"MODEL_MANAGER_ALLOWED_HOSTS": "models.example.test:8000"})
    assert "MODEL_MANAGER_ALLOWED_HOSTS" in error and "no port" in error


def test_any_host_with_a_token(tmp_path: Path) -> None:
    """With a token, ``*`` answers every Host, and the token still guards every route."""
    manager = manager_service(
        {
            "MODEL_MANAGER_ALLOWED_HOSTS": "*",
            "MODEL_MANAGER_API_TOKEN": "a-token",
            "MODEL_MANAGER_DATA_DIR": str(tmp_path / "data"),
            "MODEL_MANAGER_HF_CACHE_DIR": str(tmp_path / "hf"),
            "MODEL_MANAGER_INFERENCE_URL": "http://127.0.0.1:9",
        },
        log_dir=tmp_path,
    )
    manager.start()
    try:
        host = f"models.anywhere.test:{manager.port}"
        reply = request(manager, "GET", "/api/storage/stats", host=host)
        assert reply.status == 401, reply.body
        authorized = {"Authorization": "Bearer a-token"}
        reply = request(manager, "GET", "/api/storage/stats", host=host, headers=authorized)
        assert reply.status == 200, reply.body
    finally:
        manager.stop()
