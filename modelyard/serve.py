"""``modelyard serve``: both processes in the foreground, kept running.

The inference server and the manager run as ``python -m inference_server`` and ``python -m
manager`` children, with the settings of the environment (and of ``.env``, for variables the
environment does not set). When one exits after it has been up, it is started again after a
back-off (0.5 s, doubling to 30 s; reset once it stayed up a minute) while the other keeps
serving. A child that cannot even start (a bad setting, a port in use) stops ``serve`` with its
exit code. Ctrl-C (or SIGTERM) stops both: SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``.

The banner is printed once both answer ``/health`` and the manager's ``/ready`` passes (or,
after ``READY_WAIT_S``, with the checks that did not). The children's output reaches serve's
stderr through ``child_logs.LogRelay``: their start-up chatter is held back until the banner,
uvicorn's own start and stop lines are dropped, and in a terminal they write text lines (the
``LOG_FORMAT`` settings, when not set, are ``text`` for them), not JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from modelyard.child_logs import LogRelay
from modelyard.client import EXIT_FAILURE, EXIT_OK, CliError, ManagerClient
from modelyard.output import human_bytes

logger = logging.getLogger("modelyard.serve")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
START_TIMEOUT_S = 120.0
READY_WAIT_S = 30.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.1
READY_POLL_S = 0.25
LOG_FORMAT_SETTINGS = ("MODEL_MANAGER_LOG_FORMAT", "MLX_SERVER_LOG_FORMAT")
PR_SET_PDEATHSIG = 1


def restart_delay(failures: int) -> float:
    """Back-off before the ``failures``-th restart in a row (1-based)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** max(0, failures - 1))


def read_env(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The environment, completed by ``env_file`` for what it does not set."""
    env = dict(environ)
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        for key, value in dotenv_values(env_file).items():
            if value is not None:
                env.setdefault(key, value)
    return env


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Layout:
    """Where the two processes listen, from their settings."""

    manager_url: str
    inference_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Layout:
        manager = (
            f"http://{_host_for_url(env.get('MODEL_MANAGER_HOST', '127.0.0.1'))}:"
            f"{env.get('MODEL_MANAGER_PORT', '8000')}"
        )
        inference = env.get("MODEL_MANAGER_INFERENCE_URL") or (
            f"http://{_host_for_url(env.get('MLX_SERVER_HOST', '127.0.0.1'))}:"
            f"{env.get('MLX_SERVER_PORT', '8001')}"
        )
        return cls(manager, inference.rstrip("/"))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if ``serve`` itself dies without stopping it."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    module: str
    health_url: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    was_healthy: bool = False
    failures: int = 0
    restart_at: float | None = None
    ever_healthy: bool = False
    relay: LogRelay | None = None
    reader: Any = None  # the relay's thread reading this child's output

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            stdout=subprocess.PIPE if self.relay is not None else None,
            stderr=subprocess.STDOUT if self.relay is not None else None,
            start_new_session=True,  # Ctrl-C reaches serve, which stops the children itself
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        if self.relay is not None and self.proc.stdout is not None:
            self.reader = self.relay.follow(self.proc.stdout)
        self.started_at = time.monotonic()
        self.was_healthy = False
        self.restart_at = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def healthy(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.health_url}/health", timeout=1.0).status_code == 200
        return False

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


def child_environment(env: Mapping[str, str], layout: Layout, terminal: bool) -> dict[str, str]:
    """The children's environment: ``env``, unbuffered output, the manager pointed at the
    inference server, and text logs when serve writes to a terminal (their output is a pipe,
    where ``auto`` would pick JSON) unless a ``LOG_FORMAT`` setting says otherwise."""
    child_env = {**env, "PYTHONUNBUFFERED": "1"}
    child_env.setdefault("MODEL_MANAGER_INFERENCE_URL", layout.inference_url)
    if terminal:
        for name in LOG_FORMAT_SETTINGS:
            if child_env.get(name, "auto").strip().lower() in ("", "auto"):
                child_env[name] = "text"
    return child_env


@dataclass
class Supervisor:
    env: dict[str, str]
    console: Console
    layout: Layout
    children: list[Child] = field(default_factory=list)
    stopping: bool = False
    interrupts: int = 0
    relay: LogRelay = field(default_factory=lambda: LogRelay(sys.stderr))

    @classmethod
    def create(cls, env: dict[str, str], console: Console) -> Supervisor:
        layout = Layout.from_env(env)
        relay = LogRelay(sys.stderr)
        child_env = child_environment(env, layout, sys.stderr.isatty())
        inference = Child(
            "inference server", "inference_server", layout.inference_url, child_env, relay=relay
        )
        manager = Child("manager", "manager", layout.manager_url, child_env, relay=relay)
        return cls(env, console, layout, [inference, manager], relay=relay)

    @property
    def inference(self) -> Child:
        return self.children[0]

    @property
    def manager(self) -> Child:
        return self.children[1]

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.interrupts += 1
        self.stopping = True
        if self.interrupts > 1:
            for child in self.children:
                child.signal(signal.SIGKILL)

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for child in self.children:
                child.start()
            code = self._wait_started()
            if code is not None:
                return code
            ready = self._wait_ready()
            if not self.stopping:
                text = banner(self.layout, self.env, self.inference, self.manager, ready)
                self.relay.locked(lambda: self.console.print(text, soft_wrap=True))
            self.relay.release(replay=False)
            while not self.stopping:
                self._watch()
                time.sleep(POLL_S)
            return EXIT_OK
        finally:
            self.relay.release(replay=False)
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _wait_started(self) -> int | None:
        """Until both answer ``/health``; the exit code when one cannot start."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.stopping:
            for child in self.children:
                code = child.exit_code()
                if code is not None:
                    self._replay(child)
                    logger.error(
                        "the %s %s during start-up; see its message above",
                        child.name,
                        describe_exit(code),
                    )
                    return code if code > 0 else EXIT_FAILURE
                if not child.ever_healthy and child.healthy():
                    child.ever_healthy = child.was_healthy = True
            if all(child.ever_healthy for child in self.children):
                return None
            if time.monotonic() > deadline:
                self._replay()
                logger.error("the services did not answer /health within %.0f s", START_TIMEOUT_S)
                return EXIT_FAILURE
            time.sleep(POLL_S)
        return None

    def _replay(self, exited: Child | None = None) -> None:
        """Start-up failed: print the lines held back (all of an exited child's first)."""
        if exited is not None and exited.reader is not None:
            exited.reader.join(2.0)
        self.relay.release(replay=True)

    def _wait_ready(self) -> dict[str, Any] | None:
        """The manager's ``/ready`` answer once it passes, or the last one after
        ``READY_WAIT_S`` (None when it never answered): the banner says what is not ready."""
        token = self.env.get("MODEL_MANAGER_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + READY_WAIT_S
        answer: dict[str, Any] | None = None
        with httpx.Client(base_url=self.layout.manager_url, headers=headers, timeout=5.0) as http:
            while not self.stopping and time.monotonic() < deadline:
                if any(child.exit_code() is not None for child in self.children):
                    break
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = http.get("/ready")
                    body = response.json()
                    answer = body if isinstance(body, dict) else None
                    if response.status_code == 200:
                        return answer
                time.sleep(READY_POLL_S)
        return answer

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    logger.info("starting the %s again", child.name)
                    child.start()
                continue
            code = child.exit_code()
            if code is None:
                if not child.was_healthy and child.healthy():
                    child.was_healthy = True
                    logger.info("the %s is up again (pid %s)", child.name, child.pid)
                if now - child.started_at > STABLE_AFTER_S:
                    child.failures = 0
                continue
            child.failures += 1
            delay = restart_delay(child.failures)
            child.restart_at = now + delay
            logger.warning(
                "the %s %s; restarting it in %.1f s (restart %d in a row)",
                child.name,
                describe_exit(code),
                delay,
                child.failures,
            )

    def _stop_all(self) -> None:
        running = [c for c in self.children if c.exit_code() is None and c.proc is not None]
        if not running:
            return
        logger.info("stopping %s", " and ".join(c.name for c in running))
        for child in running:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("the %s did not stop in time; killing it", child.name)
                child.signal(signal.SIGKILL)
                child.proc.wait(5)
        for child in running:  # their last lines
            if child.reader is not None:
                child.reader.join(2.0)
        logger.info("stopped")


def system_info(layout: Layout, env: Mapping[str, str]) -> dict[str, Any]:
    """What the banner shows, from ``/api/system`` (or, from an older manager, the routes it
    has)."""
    with ManagerClient(layout.manager_url, env.get("MODEL_MANAGER_API_TOKEN")) as client:
        info: dict[str, Any] = {}
        with contextlib.suppress(CliError):
            system = client.get("/api/system", allow_404=True, timeout=10.0)
            if system is not None:
                caps = (system.get("inference") or {}).get("capabilities") or {}
                info.update(
                    version=system.get("version"),
                    data_dir=system.get("data_dir"),
                    hf_cache_dir=system.get("hf_cache_dir"),
                    models_dir=system.get("models_dir"),
                    local_models=system.get("local_models"),
                    cpu_blas=caps.get("cpu_blas"),
                    blas_known=bool(caps),
                    mlx_lm_version=caps.get("mlx_lm_version"),
                    free_bytes=(system.get("disk") or {}).get("free_bytes"),
                )
                return info
        with contextlib.suppress(CliError):
            stats = client.get("/api/storage/stats", timeout=10.0)
            info.update(
                hf_cache_dir=stats.get("cache_dir"),
                models_dir=stats.get("models_dir"),
                local_models=len(stats.get("models", [])),
                free_bytes=stats.get("free_bytes"),
            )
        with contextlib.suppress(CliError):
            pool = client.get("/api/inference/pool", timeout=10.0)
            info.update(cpu_blas=pool.get("cpu_blas"), blas_known=True)
        return info


def has_web_ui(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        response = httpx.get(f"{url}/", timeout=2.0)
        return response.status_code == 200 and "html" in response.headers.get("content-type", "")
    return False


def not_ready(ready: Mapping[str, Any] | None) -> list[str]:
    """What the manager's ``/ready`` answer says is not ready, one line per failed check."""
    if ready is None:
        return ["the manager did not answer /ready"]
    if ready.get("status") == "ready":
        return []
    checks = ready.get("checks") or {}
    return [
        f"{name}: {check.get('message') or 'failed'}"
        for name, check in checks.items()
        if isinstance(check, dict) and not check.get("ok")
    ]


def banner(
    layout: Layout,
    env: Mapping[str, str],
    inference: Child,
    manager: Child,
    ready: Mapping[str, Any] | None = None,
) -> str:
    info = system_info(layout, env)
    url = layout.manager_url
    blas = info.get("cpu_blas") or ("bundled with MLX" if info.get("blas_known") else "unknown")
    engine = f", mlx-lm {info['mlx_lm_version']}" if info.get("mlx_lm_version") else ""
    rows = [
        ("API", f"{url}  (OpenAI base URL {url}/v1, docs {url}/docs)"),
        ("Web UI", f"{url}/" if has_web_ui(url) else "not in this version"),
        ("Inference", f"{layout.inference_url}{engine}"),
        ("Data", info.get("data_dir") or "-"),
        ("Hub cache", info.get("hf_cache_dir") or "-"),
        ("Models", info.get("models_dir") or "-"),
        ("BLAS", blas),
        ("Library", _library(info)),
        ("Processes", f"manager pid {manager.pid}, inference server pid {inference.pid}"),
    ]
    version = info.get("version")
    problems = not_ready(ready)
    state = "is serving" if not problems else "is serving, but not ready"
    colour = "green" if not problems else "yellow"
    lines = [f"[bold {colour}]modelyard{' ' + escape(version) if version else ''} {state}[/]"]
    lines += [f"  [bold]{name:<10}[/] {escape(str(value))}" for name, value in rows]
    lines += [f"  [bold yellow]{'Not ready':<10}[/] {escape(problem)}" for problem in problems]
    lines.append(
        "  Try [bold]modelyard pull MODEL[/] then [bold]modelyard run MODEL[/]. Ctrl-C stops both."
    )
    return "\n".join(lines)


def _library(info: Mapping[str, Any]) -> str:
    count = info.get("local_models")
    text = "-" if count is None else f"{count} local model{'s' if count != 1 else ''}"
    if info.get("free_bytes") is not None:
        text += f", {human_bytes(info['free_bytes'])} free"
    return text


def serve(env_file: Path | None, console: Console, *, log_setup: Callable[[], None]) -> int:
    log_setup()
    env = read_env(os.environ, env_file)
    return Supervisor.create(env, console).run()
