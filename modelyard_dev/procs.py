"""Start the real services as subprocesses on free loopback ports (tests, benchmarks, demo).

Each service is started the way users start it (``python -m manager`` /
``python -m inference_server``), with its settings in the environment, and stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """A service subprocess; ``url`` is its base URL."""

    module: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    cwd: Path | None = None  # another source tree's service, when set (``-m`` finds it first)
    _log: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> Service:
        log = self.log_path.open("ab")
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.cwd,
        )
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited early:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{self.module} did not become healthy:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop the process we started (by PID); SIGKILL if it does not go."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.proc = None
        log = self._log
        if log is not None:
            log.close()  # type: ignore[attr-defined]
            self._log = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODEL_MANAGER_", "MLX_SERVER_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def inference_service(
    env: Mapping[str, str], *, port: int | None = None, log_dir: Path | None = None
) -> Service:
    port = port or free_port()
    full = base_env(
        {"HF_HUB_OFFLINE": "1", "MLX_SERVER_HOST": LOOPBACK, "MLX_SERVER_PORT": str(port), **env}
    )
    log_dir = log_dir or Path(tempfile.gettempdir())
    return Service("inference_server", port, full, log_dir / f"inference-{port}.log")


def sharded_inference_services(
    env: Mapping[str, str],
    *,
    ranks: int = 2,
    mode: str = "tensor",
    log_dir: Path | None = None,
) -> list[Service]:
    """The ranks of one inference server sharded with MLX's ring backend on loopback, set up
    as ``mlx.launch`` does (``MLX_RANK``, ``MLX_HOSTFILE``). Rank 0 (first) serves HTTP; start
    the others first (``start(wait=False)``): the ring forms when all have joined."""
    log_dir = log_dir or Path(tempfile.gettempdir())
    port = free_port()
    hostfile = log_dir / f"ring-{port}.json"
    hostfile.write_text(json.dumps([[f"{LOOPBACK}:{free_port()}"] for _ in range(ranks)]))
    services = []
    for rank in range(ranks):
        full = base_env(
            {
                "HF_HUB_OFFLINE": "1",
                "MLX_SERVER_HOST": LOOPBACK,
                "MLX_SERVER_PORT": str(port),
                "MLX_SERVER_DISTRIBUTED": mode,
                "MLX_RANK": str(rank),
                "MLX_HOSTFILE": str(hostfile),
                **env,
            }
        )
        log = log_dir / f"inference-{port}-rank{rank}.log"
        services.append(Service("inference_server", port, full, log))
    return services


def manager_service(
    env: Mapping[str, str], *, port: int | None = None, log_dir: Path | None = None
) -> Service:
    port = port or free_port()
    full = base_env({"MODEL_MANAGER_HOST": LOOPBACK, "MODEL_MANAGER_PORT": str(port), **env})
    log_dir = log_dir or Path(tempfile.gettempdir())
    return Service("manager", port, full, log_dir / f"manager-{port}.log")


@contextlib.contextmanager
def running(*services: Service) -> Iterator[tuple[Service, ...]]:
    started: list[Service] = []
    try:
        for service in services:
            started.append(service.start())
        yield services
    finally:
        for service in reversed(started):
            service.stop()
