"""Schema migrations on real SQLite files and a real PostgreSQL server: a new database, a
database from before migrations (adopted with its rows), concurrent start-ups, a database
from a newer version, and the migrations agreeing with the tables the code declares."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from manager.database import init_schema, make_engine, table_metadata
from manager.errors import DatabaseUnavailableError
from manager.migrations.upgrade import current_revision, head_revision
from tests.manager.conftest import AppClientFactory

# The schema as ``create_all`` made it before migrations existed (captured from that code).
PRE_MIGRATION_SCHEMA = """
CREATE TABLE download_jobs (
    id VARCHAR(36) NOT NULL, model_id VARCHAR(200) NOT NULL, revision VARCHAR(255) NOT NULL,
    "commit" VARCHAR(40), status VARCHAR(16) NOT NULL, format VARCHAR(16),
    allow_patterns JSON NOT NULL, bytes_total BIGINT NOT NULL, bytes_done BIGINT NOT NULL,
    bytes_transferred BIGINT NOT NULL, error JSON, created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL, started_at FLOAT, finished_at FLOAT, PRIMARY KEY (id)
);
CREATE INDEX ix_download_jobs_model_status ON download_jobs (model_id, revision, status);
CREATE INDEX ix_download_jobs_status ON download_jobs (status);
CREATE INDEX ix_download_jobs_created_at ON download_jobs (created_at);
CREATE TABLE library_models (
    model_id VARCHAR(256) NOT NULL, source VARCHAR(16) NOT NULL, added_at FLOAT NOT NULL,
    last_used_at FLOAT, import_origin TEXT, import_mode VARCHAR(8), config_hash VARCHAR(64),
    characteristics JSON, PRIMARY KEY (model_id)
);
CREATE TABLE download_files (
    job_id VARCHAR(36) NOT NULL, path VARCHAR(1024) NOT NULL, size BIGINT NOT NULL,
    blob_id VARCHAR(40) NOT NULL, sha256 VARCHAR(64), bytes_done BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL, PRIMARY KEY (job_id, path),
    FOREIGN KEY(job_id) REFERENCES download_jobs (id) ON DELETE CASCADE
);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
"""

COMMIT = "a" * 40


def _job(job_id: str, status: str, created_at: float, model_id: str = "org/m") -> tuple[Any, ...]:
    return (job_id, model_id, "main", COMMIT, status, None, "[]", 10, 4, 4, None, created_at,
            created_at, None, None)  # fmt: skip


def old_database(path: Path) -> None:
    """A database as the manager left it before migrations, with jobs, files and a record."""
    with sqlite3.connect(path) as db:
        db.executescript(PRE_MIGRATION_SCHEMA)
        db.executemany(
            "INSERT INTO download_jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                _job("old-done", "completed", 1.0),
                _job("running", "downloading", 2.0),
                _job("duplicate", "queued", 3.0),  # the same commit, active twice
                _job("other", "paused", 4.0, model_id="org/other"),
            ],
        )
        db.execute(
            "INSERT INTO download_files VALUES ('running', 'model.safetensors', 10, ?, NULL, 4,"
            " 'downloading')",
            ("b" * 40,),
        )
        db.execute(
            "INSERT INTO library_models VALUES ('org/m', 'hub', 1.0, 2.0, NULL, NULL, 'h', ?)",
            (json.dumps({"model_type": "llama"}),),
        )
    db.close()


def schema_diff(connection: Connection) -> list[Any]:
    """What differs between the migrated database and the tables the code declares."""
    diff: list[Any] = compare_metadata(MigrationContext.configure(connection), table_metadata())
    return diff


async def inspect_engine(engine: AsyncEngine, fn: Callable[[Connection], Any]) -> Any:
    async with engine.connect() as conn:
        return await conn.run_sync(fn)


def sqlite_engine(path: Path) -> AsyncEngine:
    return make_engine(f"sqlite+aiosqlite:///{path}")


async def test_new_sqlite_database_is_created_at_the_newest_revision(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "new.db")
    try:
        await init_schema(engine)
        await init_schema(engine)  # a second start changes nothing
        assert await inspect_engine(engine, current_revision) == head_revision()
        assert await inspect_engine(engine, schema_diff) == []
    finally:
        await engine.dispose()


async def test_database_from_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_database(path)
    engine = sqlite_engine(path)
    try:
        await init_schema(engine)
        assert await inspect_engine(engine, current_revision) == head_revision()
        assert await inspect_engine(engine, schema_diff) == []
        tables = await inspect_engine(engine, lambda c: set(inspect(c).get_table_names()))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, status FROM download_jobs"))).all()
            jobs = {row[0]: row[1] for row in rows}
            files = (
                await conn.execute(text("SELECT job_id, bytes_done FROM download_files"))
            ).all()
            record = (await conn.execute(text("SELECT config_hash FROM library_models"))).all()
            error = (
                await conn.execute(text("SELECT error FROM download_jobs WHERE id='duplicate'"))
            ).scalar_one()
    finally:
        await engine.dispose()
    assert "schema_version" not in tables
    # The older of the two active jobs of one commit is kept; the younger one is cancelled.
    assert jobs == {
        "old-done": "completed",
        "running": "downloading",
        "duplicate": "cancelled",
        "other": "paused",
    }
    assert json.loads(error)["code"] == "duplicate_job"
    assert files == [("running", 4)]
    assert record == [("h",)]


async def test_database_with_some_tables_missing_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "partial.db"
    with sqlite3.connect(path) as db:
        db.executescript(PRE_MIGRATION_SCHEMA.split("CREATE TABLE library_models")[0])
    db.close()
    engine = sqlite_engine(path)
    try:
        await init_schema(engine)
        assert await inspect_engine(engine, schema_diff) == []
    finally:
        await engine.dispose()


async def test_database_from_a_newer_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    engine = sqlite_engine(path)
    try:
        await init_schema(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(DatabaseUnavailableError) as caught:
            await init_schema(engine)
    finally:
        await engine.dispose()
    assert "another modelyard version" in caught.value.message
    assert "9999" in caught.value.message


async def test_manager_starts_on_an_old_database_and_lists_its_jobs(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    old_database(tmp_path / "data" / "modelyard.db")
    async with app_client() as (_app, client):
        listed = await client.get("/api/downloads", params={"status": "completed"})
    assert listed.status_code == 200, listed.text
    assert [job["id"] for job in listed.json()["downloads"]] == ["old-done"]


# ---- PostgreSQL -------------------------------------------------------------------------------


async def test_postgres_database_is_created_at_the_newest_revision(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        await init_schema(engine)
        assert await inspect_engine(engine, current_revision) == head_revision()
        assert await inspect_engine(engine, schema_diff) == []
    finally:
        await engine.dispose()


async def test_managers_starting_together_on_postgres_migrate_once(postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(4)]
    try:
        await asyncio.gather(*(init_schema(engine) for engine in engines))
        assert await inspect_engine(engines[0], current_revision) == head_revision()
        assert await inspect_engine(engines[0], schema_diff) == []
    finally:
        for engine in engines:
            await engine.dispose()


async def test_manager_runs_on_postgres(app_client: AppClientFactory, postgres_url: str) -> None:
    async with app_client(database_url=postgres_url) as (_app, client):
        ready = await client.get("/ready")
        listed = await client.get("/api/downloads")
        local = await client.get("/api/models/local")
    assert ready.json()["checks"]["database"] == {"ok": True, "message": None}, ready.text
    assert listed.status_code == 200, listed.text
    assert listed.json()["downloads"] == []
    assert local.status_code == 200, local.text


async def test_unreachable_postgres_is_503_not_a_crash(app_client: AppClientFactory) -> None:
    started = time.monotonic()
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/none"
    async with app_client(database_url=url) as (_app, client):
        ready = await client.get("/ready")
        listed = await client.get("/api/downloads")
    assert time.monotonic() - started < 60
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["ok"] is False
    assert "cannot connect" in ready.json()["checks"]["database"]["message"]
    assert listed.status_code == 503
    assert listed.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
