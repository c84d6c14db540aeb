"""Keys and tokens: the inference server's key guards every route but /health; the manager's
token guards /metrics and the event streams too; neither the manager token, the inference key nor the Hub token
shows up in a log or an answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from service_kit.anthropic_errors import is_messages_path
from tests.hardening.conftest import MODEL, assert_envelope, manager_env

INFERENCE_KEY = "inference-key-5f0c2a"
MANAGER_TOKEN = "manager-token-9b1e77"
HF_TOKEN = "hf_SecretHubToken8d3a41"
SECRETS = (INFERENCE_KEY, MANAGER_TOKEN, HF_TOKEN)


@pytest.fixture(scope="module")
def locked(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Service]]:
    """An inference server with a key, and a manager with a token and a Hub token."""
    logs = tmp_path_factory.mktemp("security-logs")
    hf_cache = tmp_path_factory.mktemp("hf")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(hf_cache),
            "MLX_SERVER_API_KEY": INFERENCE_KEY,
            "MLX_SERVER_LOG_LEVEL": "DEBUG",
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            **manager_env(inference, tmp_path_factory.mktemp("data"), models_dir, hf_cache),
            "MODEL_MANAGER_API_TOKEN": MANAGER_TOKEN,
            "MODEL_MANAGER_INFERENCE_API_KEY": INFERENCE_KEY,
            "MODEL_MANAGER_LOG_LEVEL": "DEBUG",
            "HF_TOKEN": HF_TOKEN,
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield inference, manager
        finally:
            manager.stop()
    finally:
        inference.stop()


def operations(service: Service, headers: dict[str, str]) -> list[tuple[str, str]]:
    spec = httpx.get(service.url + "/openapi.json", headers=headers, timeout=10).json()
    out = []
    for path, ops in spec["paths"].items():
        concrete = path.replace("{model_id}", MODEL)
        out += [(method.upper(), concrete) for method in ops]
    return out


def test_inference_key_guards_every_route_but_health(locked: tuple[Service, Service]) -> None:
    inference, _ = locked
    good = {"Authorization": f"Bearer {INFERENCE_KEY}"}
    routes = operations(inference, good)
    assert ("GET", "/metrics") in routes and ("GET", "/admin/pool") in routes
    routes += [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/no/such/route")]
    with httpx.Client(base_url=inference.url, timeout=30) as client:
        for method, path in routes:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": INFERENCE_KEY},  # no scheme
                {"Authorization": f"Bearer {INFERENCE_KEY}x"},
            ):
                r = client.request(method, path, headers=headers)
                if path == "/health":
                    assert r.status_code == 200
                elif is_messages_path(path):  # Anthropic's API: errors in its shape
                    assert r.status_code == 401
                    error = r.json()["error"]
                    assert error["type"] == "authentication_error"
                    assert error["details"]["error_code"] == "INVALID_TOKEN"
                else:
                    assert_envelope(r, 401, "INVALID_TOKEN")
                    assert r.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers=good).status_code == 200
        assert client.post(f"/admin/models/{MODEL}/load", headers=good).status_code == 200
        assert client.get("/admin/pool", headers=good).json()["slots"][0]["id"] == MODEL


def test_manager_token_guards_metrics(locked: tuple[Service, Service]) -> None:
    _, manager = locked
    with httpx.Client(base_url=manager.url, timeout=30) as client:
        assert client.get("/health").status_code == 200
        for path in ("/metrics", "/ready", "/openapi.json"):
            assert_envelope(client.get(path), 401, "INVALID_TOKEN")
            assert_envelope(
                client.get(path, headers={"Authorization": "Bearer x"}), 401, "INVALID_TOKEN"
            )
        r = client.get("/metrics", headers={"Authorization": f"Bearer {MANAGER_TOKEN}"})
        assert r.status_code == 200
        assert "modelyard_manager_http_requests_total" in r.text


def test_manager_token_guards_event_streams(locked: tuple[Service, Service]) -> None:
    _, manager = locked
    good = {"Authorization": f"Bearer {MANAGER_TOKEN}"}
    some_job = "/api/downloads/0b5c6a4e-1d2f-4c3b-9a8e-7f6d5c4b3a21/events"
    with httpx.Client(base_url=manager.url, timeout=30) as client:
        for path in ("/api/downloads/events", some_job):
            for headers in ({}, {"Authorization": f"Bearer {MANAGER_TOKEN}x"}):
                r = client.get(path, headers={**headers, "Accept": "text/event-stream"})
                assert_envelope(r, 401, "INVALID_TOKEN")
                assert r.headers["www-authenticate"] == "Bearer"
        # With the token: the stream opens and starts with a snapshot; an unknown job is 404.
        with client.stream("GET", "/api/downloads/events", headers=good) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            first = next(line for line in stream.iter_lines() if line.startswith("data: "))
            assert json.loads(first[len("data: ") :])["type"] == "snapshot"
        assert_envelope(client.get(some_job, headers=good), 404, "NOT_FOUND")


def test_secrets_never_logged_or_returned(locked: tuple[Service, Service]) -> None:
    inference, manager = locked
    auth = {"Authorization": f"Bearer {MANAGER_TOKEN}"}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    answers: list[str] = []
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        # Through the proxy (the manager sends the inference key upstream) ...
        r = client.post("/v1/chat/completions", json=chat, headers=auth)
        assert r.status_code == 200, r.text
        answers.append(r.text)
        answers.append(
            client.post("/v1/chat/completions", json={**chat, "stream": True}, headers=auth).text
        )
        answers.append(
            client.post(
                "/v1/completions",
                content=b"{",
                headers={**auth, "Content-Type": "application/json"},
            ).text
        )
        # ... wrong tokens, and routes that use the Hub token (the Hub is unreachable here).
        for headers in (
            auth,
            {"Authorization": f"Bearer {MANAGER_TOKEN}-wrong"},
            {"Authorization": HF_TOKEN},
        ):
            for method, path in (
                ("GET", "/metrics"),
                ("GET", "/ready"),
                ("GET", "/api/hub/search?q=llama"),
                ("GET", "/api/hub/models/org/name"),
                ("GET", "/api/models/config/org/name"),
                ("GET", "/openapi.json"),
            ):
                answers.append(client.request(method, path, headers=headers).text)
    for name, service in (("manager", manager), ("inference server", inference)):
        log = service.log_path.read_text(errors="replace")
        assert "/v1/chat/completions" in log, f"the {name} log does not record the requests"
        for secret in SECRETS:
            assert secret not in log, f"a secret is in the {name} log"
    for text in answers:
        for secret in SECRETS:
            assert secret not in text


def test_bearer_scheme_is_case_insensitive(locked: tuple[Service, Service]) -> None:
    """The auth scheme is case-insensitive (RFC 7235): ``Authorization: bearer <token>`` used
    to get 401 ``invalid bearer token`` from both processes; now it is accepted. The token
    itself is still compared exactly."""
    inference, manager = locked
    for service, secret, path in (
        (inference, INFERENCE_KEY, "/admin/pool"),
        (manager, MANAGER_TOKEN, "/api/storage/stats"),
    ):
        with httpx.Client(base_url=service.url, timeout=30) as client:
            for scheme in ("bearer", "BEARER", "BeArEr"):
                r = client.get(path, headers={"Authorization": f"{scheme} {secret}"})
                assert r.status_code == 200, (scheme, r.text)
            for value in (f"bearer {secret.upper()}", f"bearer{secret}", f"Basic {secret}"):
                r = client.get(path, headers={"Authorization": value})
                assert_envelope(r, 401, "INVALID_TOKEN")


def test_x_api_key_is_a_token_too(locked: tuple[Service, Service]) -> None:
    """Anthropic's clients send the key as ``x-api-key``: both processes take it as the token,
    compared exactly."""
    inference, manager = locked
    for service, secret, path in (
        (inference, INFERENCE_KEY, "/admin/pool"),
        (manager, MANAGER_TOKEN, "/api/storage/stats"),
    ):
        with httpx.Client(base_url=service.url, timeout=30) as client:
            assert client.get(path, headers={"x-api-key": secret}).status_code == 200
            for value in (f"{secret}x", secret.upper(), f"Bearer {secret}"):
                assert_envelope(
                    client.get(path, headers={"x-api-key": value}), 401, "INVALID_TOKEN"
                )
