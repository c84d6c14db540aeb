"""The ``modelyard`` console script, run as users run it, against real processes.

One stack for the package: the fake Hub in a thread of the test process (so tests can throttle
it), the inference server and the manager as subprocesses on free loopback ports, a fresh
Hugging Face cache, and the session's tiny models as imported models.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service, inference_service, manager_service

TOKEN = "cli-test-token"
MODEL = "local/tiny-a"


def console_script() -> Path:
    """The installed ``modelyard`` script beside this interpreter."""
    path = Path(sys.executable).parent / "modelyard"
    assert path.exists(), f"{path} is missing: install the project (scripts/bootstrap.sh dev)"
    return path


def cli_env(url: str, token: str | None = TOKEN, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODEL_MANAGER_", "MLX_SERVER_", "MODELYARD_"))
    }
    env.update({"MODELYARD_URL": url, "COLUMNS": "160", "PYTHONUNBUFFERED": "1", **extra})
    if token:
        env["MODEL_MANAGER_API_TOKEN"] = token
    return env


@dataclass
class Stack:
    hub: FakeHub
    hub_url: str
    manager: Service
    inference: Service
    cache: Path

    @property
    def url(self) -> str:
        return self.manager.url

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        with self.api() as client:
            response = client.get(path, **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

    def cli(
        self, *args: str, input: str | None = None, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(console_script()), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(self.url, **env),
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(console_script()), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(self.url),
        )

    def loaded(self) -> dict[str, dict[str, Any]]:
        """The pool's slots by model id."""
        return {s["id"]: s for s in self.get("/api/inference/pool")["slots"]}

    def slot(self, model: str) -> dict[str, Any]:
        slot: dict[str, Any] = self.loaded()[model]
        return slot


def wait_until(condition: Callable[[], Any], within: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


@pytest.fixture(scope="package")
def stack(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    hub = FakeHub()
    hub.add_tiny_model("org/tiny")
    running = hub.serve_in_thread()
    cache = tmp_path_factory.mktemp("cli-cache")
    logs = tmp_path_factory.mktemp("cli-logs")
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(cache),
            "MLX_SERVER_MAX_TOKENS_CAP": "4096",
        },
        log_dir=logs,
    )
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": inference.url,
            "MODEL_MANAGER_API_TOKEN": TOKEN,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path_factory.mktemp("cli-data")),
            "MODEL_MANAGER_HF_CACHE_DIR": str(cache),
            "MODEL_MANAGER_MODELS_DIR": str(models_dir),
            "MODEL_MANAGER_HF_ENDPOINT": running.url,
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
            "MODEL_MANAGER_DOWNLOAD_PROGRESS_INTERVAL_S": "0.05",
            "MODEL_MANAGER_PROXY_RETRY_WAIT_S": "0.05",
        },
        log_dir=logs,
    )
    try:
        inference.start()
        manager.start()
        yield Stack(hub, running.url, manager, inference, cache)
    finally:
        manager.stop()
        inference.stop()
        running.stop()
