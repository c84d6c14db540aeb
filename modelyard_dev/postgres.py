"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` and ``pg_ctl`` in a
temporary folder, listening on a free loopback port, stopped and removed afterwards.

It needs the server binaries (Debian/Ubuntu: ``apt-get install -y postgresql``; macOS:
``brew install postgresql``); ``find_binaries`` says where they are, or None. PostgreSQL
refuses to run as root, so under root the cluster is created and run as ``nobody`` (Python's
``subprocess`` switches the user).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelyard_dev.procs import LOOPBACK, free_port

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
    "(Debian/Ubuntu: apt-get install -y postgresql; macOS: brew install postgresql) "
    "or set MODELYARD_PG_BINDIR"
)
RUN_AS_WHEN_ROOT = "nobody"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: ``MODELYARD_PG_BINDIR``, Debian's
    ``/usr/lib/postgresql/<version>/bin`` (newest first), or ``PATH``."""
    candidates: list[Path] = []
    if os.environ.get("MODELYARD_PG_BINDIR"):
        candidates.append(Path(os.environ["MODELYARD_PG_BINDIR"]))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


@dataclass
class PostgresServer:
    """One running cluster; ``url(database)`` is an SQLAlchemy asyncpg URL."""

    bindir: Path
    root: Path
    port: int
    user: str | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@{LOOPBACK}:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            check=True,
            capture_output=True,
            text=True,
            user=self.user,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
        )

    def start(self) -> PostgresServer:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                      "-w", "stop")  # fmt: skip

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql`` (from the same folder) and return its output."""
        psql = self.bindir / "psql"
        program = str(psql) if psql.is_file() else (shutil.which("psql") or "psql")
        done = self._run(
            program, "-h", LOOPBACK, "-p", str(self.port), "-U", "postgres", "-d", database,
            "-v", "ON_ERROR_STOP=1", "-Atc", sql,
        )  # fmt: skip
        return done.stdout

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name


@contextlib.contextmanager
def postgres_server(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """Start a cluster in a temporary folder; stop it and remove the folder afterwards."""
    found = bindir or find_binaries()
    if found is None:
        raise FileNotFoundError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="modelyard-pg-"))
    user = None
    if os.geteuid() == 0:
        user = RUN_AS_WHEN_ROOT
        shutil.chown(root, user=user)
    server = PostgresServer(bindir=found, root=root, port=free_port(), user=user)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
