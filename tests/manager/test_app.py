"""The manager app as a whole: auth, CORS, the envelope, health, readiness, the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.manager.conftest import AppClientFactory


async def test_health_ready_metrics(app_client: AppClientFactory) -> None:
    async with app_client() as (_app, client):
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        metrics = await client.get("/metrics")
    # No inference server at CLOSED_PORT_URL: not ready, and the answer says which part.
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] == {"ok": True, "message": None}
    assert body["checks"]["inference"]["ok"] is False
    assert "unreachable" in body["checks"]["inference"]["message"]
    assert body["checks"]["storage"]["ok"] is False
    assert body["checks"]["storage"]["message"].startswith("not checked")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'modelyard_manager_http_requests_total{method="GET",route="/health",status="200"}' in (
        metrics.text
    )


async def test_schema_created_at_start(app_client: AppClientFactory, tmp_path: Path) -> None:
    async with app_client() as _:
        pass
    with sqlite3.connect(tmp_path / "data" / "modelyard.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"alembic_version", "download_jobs", "download_files", "library_models"} <= tables
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_token_required_everywhere_but_health(app_client: AppClientFactory) -> None:
    async with app_client(api_token="tok") as (_app, client):
        assert (await client.get("/health")).status_code == 200
        for path in ("/ready", "/metrics", "/v1/models", "/openapi.json"):
            missing = await client.get(path)
            assert missing.status_code == 401, path
            assert missing.json()["error"]["code"] == "INVALID_TOKEN"
            assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await client.get("/ready", headers={"Authorization": "Bearer tok2"})
        assert wrong.status_code == 401
        right = await client.get("/ready", headers={"Authorization": "Bearer tok"})
        assert right.status_code == 503  # past auth; no inference server here
        assert right.json()["checks"]["database"]["ok"] is True


async def test_cors_local_origins_by_default(app_client: AppClientFactory) -> None:
    async with app_client(api_token="tok") as (_app, client):
        preflight = await client.options(
            "/v1/chat/completions",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        foreign = await client.options(
            "/v1/chat/completions",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-origin" not in foreign.headers


async def test_unknown_route_and_method_in_envelope(app_client: AppClientFactory) -> None:
    async with app_client() as (_app, client):
        missing = await client.get("/api/nothing-here")
        wrong_method = await client.delete("/health")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert missing.json()["error"]["src"] == "manager"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_read_only_database_answers_503_and_stays_up(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    db = tmp_path / "ro.sqlite"
    sqlite3.connect(db).close()
    url = f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true"
    async with app_client(database_url=url) as (_app, client):
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "1"
    database = ready.json()["checks"]["database"]
    assert database["ok"] is False
    assert "readonly" in database["message"] or "read-only" in database["message"]
