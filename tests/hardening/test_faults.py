"""The inference server dies (SIGKILL) while a client streams through the manager: the client
gets an error frame in the envelope, the manager stays up, and once the inference server is
back the next request succeeds, with no restart of the manager."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard_dev.procs import Service, inference_service, manager_service
from shared_schemas.errors import ErrorEnvelope
from tests.hardening.conftest import assert_envelope, manager_env, sse_data

LONG_MODEL = "local/tiny-long"


@pytest.fixture
def services(
    models_dir: Path, long_models_dir: Path, tmp_path: Path
) -> Iterator[tuple[Service, Service]]:
    inference = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": f"{models_dir},{long_models_dir}",
            "MLX_SERVER_HF_CACHE_DIR": str(tmp_path / "hf"),
        },
        log_dir=tmp_path,
    )
    manager = manager_service(
        manager_env(inference, tmp_path / "data", models_dir, tmp_path / "hf"), log_dir=tmp_path
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


def chat(tokens: int, *, stream: bool) -> dict[str, object]:
    return {
        "model": LONG_MODEL,
        "messages": [{"role": "user", "content": "tell me a very long story"}],
        "max_tokens": tokens,
        "temperature": 0,
        "stream": stream,
    }


@pytest.mark.slow
def test_inference_killed_mid_stream(services: tuple[Service, Service]) -> None:
    inference, manager = services
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        lines: list[str] = []
        with client.stream("POST", "/v1/chat/completions", json=chat(12000, stream=True)) as r:
            assert r.status_code == 200
            content = 0
            stream = r.iter_lines()
            for line in stream:
                lines.append(line)
                if '"content":"' in line and '"content":""' not in line:
                    content += 1
                    if content == 3:
                        break
            inference.kill()
            lines.extend(stream)
        frames = sse_data("\n".join(lines))
        assert "[DONE]" not in frames
        assert frames[-1].keys() == {"error"}
        error = ErrorEnvelope.model_validate(frames[-1]).error
        assert error.src == "manager" and error.code == "upstream_disconnected"
        assert [f for f in frames[:-1] if "error" in f] == []

        # The manager stays healthy, and says plainly that the inference server is away.
        assert client.get("/health").status_code == 200
        assert manager.proc is not None and manager.proc.poll() is None
        assert_envelope(
            client.post("/v1/chat/completions", json=chat(4, stream=False)),
            503,
            "SERVICE_UNAVAILABLE",
        )

        inference.start()
        r = client.post("/v1/chat/completions", json=chat(4, stream=False))
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"]
        streamed = sse_data(client.post("/v1/chat/completions", json=chat(4, stream=True)).text)
        assert streamed[-1] == "[DONE]"
