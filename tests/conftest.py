"""Shared fixtures: tiny real models made on the spot, services on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from modelyard_dev.postgres import PostgresServer

# Nothing in the suite may reach the real Hub: the default endpoint is a closed loopback port,
# and tests that need a Hub start the fake one and pass its URL explicitly.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.pop("HF_TOKEN", None)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with tiny models ``local/tiny-a``, ``-b`` and ``-c``."""
    from modelyard_dev.tiny_model import TINY, write_model

    root = tmp_path_factory.mktemp("models")
    write_model(root / "tiny-a", TINY, seed=0)
    write_model(root / "tiny-b", TINY, seed=1)
    write_model(root / "tiny-c", TINY, seed=2)
    return root


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty Hugging Face cache folder for the session."""
    return tmp_path_factory.mktemp("hf-cache")


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs"
    path.mkdir()
    yield path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (skipped, saying what to install, without one)."""
    from modelyard_dev.postgres import INSTALL_HINT, find_binaries, postgres_server

    if find_binaries() is None:
        pytest.skip(INSTALL_HINT)
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The SQLAlchemy URL of a new, empty database on the session's PostgreSQL server."""
    return postgres.url(postgres.create_database())
