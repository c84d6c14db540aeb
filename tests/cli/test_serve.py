"""``modelyard serve``: both processes, a banner, a crashed inference server brought back while
the manager keeps answering, and Ctrl-C stopping both; in a terminal, the banner comes first,
once the manager is ready, and uvicorn's start and stop lines are not shown."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pexpect
import psutil
import pytest

from modelyard_dev.procs import free_port
from tests.cli.conftest import MODEL, cli_env, console_script, wait_until

CHAT = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 2,
    "temperature": 0,
}


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    out: Path
    err: Path

    def children(self) -> dict[str, psutil.Process]:
        found = {}
        for child in psutil.Process(self.proc.pid).children():
            with contextlib.suppress(psutil.Error):
                cmdline = child.cmdline()
                if cmdline[-1:] == ["inference_server"]:
                    found["inference"] = child
                elif cmdline[-1:] == ["manager"]:
                    found["manager"] = child
        return found


def serve_env(models_dir: Path, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The manager's URL and the environment of a ``modelyard serve`` on free ports."""
    manager_port, inference_port = free_port(), free_port()
    url = f"http://127.0.0.1:{manager_port}"
    env = cli_env(
        url,
        token=None,
        MODEL_MANAGER_PORT=str(manager_port),
        MLX_SERVER_PORT=str(inference_port),
        MODEL_MANAGER_DATA_DIR=str(tmp_path / "data"),
        MODEL_MANAGER_HF_CACHE_DIR=str(tmp_path / "cache"),
        MLX_SERVER_HF_CACHE_DIR=str(tmp_path / "cache"),
        MODEL_MANAGER_MODELS_DIR=str(models_dir),
        MLX_SERVER_MODELS_DIRS=str(models_dir),
        MODEL_MANAGER_PROXY_RETRY_WAIT_S="0.05",
    )
    return url, env


@pytest.fixture
def served(models_dir: Path, tmp_path: Path) -> Iterator[Served]:
    url, env = serve_env(models_dir, tmp_path)
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [str(console_script()), "serve"],
            cwd=tmp_path,  # no .env there
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    served = Served(proc, url, out, err)
    try:
        wait_until(
            lambda: "is serving" in out.read_text() or proc.poll() is not None,
            within=120,
            what="the banner",
        )
        assert proc.poll() is None, err.read_text()
        yield served
    finally:
        children = served.children() if proc.poll() is None else {}
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for child in children.values():  # never leave one behind, even when a test failed
            with contextlib.suppress(psutil.Error):
                child.kill()


@dataclass
class HealthPoller:
    """Polls ``/health`` from a thread and counts every failure."""

    url: str
    polls: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(f"{self.url}/health").status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.polls += 1
                time.sleep(0.05)

    @contextlib.contextmanager
    def running(self) -> Iterator[HealthPoller]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)


def chat_once(url: str) -> int:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=30).status_code
    return 0


def test_serve_restarts_a_killed_inference_server_and_stops_on_ctrl_c(served: Served) -> None:
    # The banner, once both answer.
    banner = served.out.read_text()
    assert f"API        {served.url}" in banner
    assert "Hub cache" in banner and "BLAS" in banner and "local models" in banner
    assert banner.rstrip().splitlines()[-1].startswith("  Try modelyard pull MODEL")
    assert chat_once(served.url) == 200

    # SIGKILL the inference server: it is back, unasked, and the manager never went down.
    children = served.children()
    victim, manager = children["inference"], children["manager"]
    with HealthPoller(served.url).running() as poller:
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        answered = False
        while time.monotonic() - killed_at < 10:
            if chat_once(served.url) == 200:
                answered = True
                break
            time.sleep(0.2)
    assert answered, served.err.read_text()[-3000:]
    assert poller.polls > 0 and poller.failures == []
    children = served.children()
    assert children["inference"].pid != victim.pid
    assert children["manager"].pid == manager.pid
    assert "killed by SIGKILL; restarting it in" in served.err.read_text()

    # Ctrl-C stops both and serve exits 0.
    served.proc.send_signal(signal.SIGINT)
    assert served.proc.wait(30) == 0
    for child in children.values():
        wait_until(functools.partial(stopped, child), within=10, what=f"{child.pid} to stop")


def stopped(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
UVICORN_LINES = (
    "Started server process",
    "Waiting for application",
    "Application startup complete",
    "Uvicorn running on",
    "Shutting down",
    "Application shutdown complete",
    "Finished server process",
)


def test_serve_in_a_terminal_prints_the_banner_first_once_ready(
    models_dir: Path, tmp_path: Path
) -> None:
    """Reproduction: in a terminal, ``modelyard serve`` printed about a dozen of uvicorn's and
    the children's start-up lines around its banner (some before, some after it), printed
    the banner as soon as ``/health`` answered (before ``/ready`` did), and ended with eight
    lines of uvicorn's shutdown."""
    url, env = serve_env(models_dir, tmp_path)
    child = pexpect.spawn(
        str(console_script()),
        ["serve"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(40, 200),
    )
    try:
        child.expect_exact("Ctrl-C stops both.")
        ready = httpx.get(f"{url}/ready", timeout=10)
        banner = ANSI.sub("", child.before or "").replace("\r", "")
        assert ready.status_code == 200, ready.text
        assert banner.lstrip().startswith("modelyard ") and " is serving\n" in banner, banner
        assert "not ready" not in banner
        assert f"Inference  http://127.0.0.1:{env['MLX_SERVER_PORT']}, mlx-lm " in banner
        # After the banner, the children's lines come as text lines, not JSON.
        assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 200
        child.expect(r"INFO +manager  GET /v1/models 200")
        child.sendintr()
        child.expect(pexpect.EOF, timeout=60)
        after = ANSI.sub("", child.before or "")
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, after
    assert "stopping inference server and manager" in after
    assert after.rstrip().endswith("serve  stopped"), after
    for noise in UVICORN_LINES:
        assert noise not in banner + after, noise
    assert '{"ts"' not in after
