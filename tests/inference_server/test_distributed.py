"""One model sharded over two real processes with MLX's ring backend on loopback (the CPU):
the same greedy output as one process, a killed rank ending the request with an error, and
what cannot be followed refused by name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard_dev.procs import (
    Service,
    base_env,
    free_port,
    inference_service,
    manager_service,
    running,
    sharded_inference_services,
)

MODEL = "local/tiny-a"
PROMPTS = ["hello there", "tell me a story about a village", "what is two plus two"]


def env_for(models_dir: Path, hf_cache: Path) -> dict[str, str]:
    return {"MLX_SERVER_MODELS_DIRS": str(models_dir), "MLX_SERVER_HF_CACHE_DIR": str(hf_cache)}


@pytest.fixture(scope="module")
def multimodal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelyard_dev.tiny_multimodal import bert_embedding_files, vision_files, write_files

    root = tmp_path_factory.mktemp("sharded-multimodal")
    write_files(root / "emb", bert_embedding_files(seed=0))
    write_files(root / "vl", vision_files(seed=0))
    return root


# The watchdog's step timeout in the tests of a lost rank: far above a step of the tiny model
# (milliseconds), short enough that a test waits on it for seconds.
STEP_TIMEOUT_S = "4"


def start_ranks(env: dict[str, str], log_dir: Path) -> Iterator[list[Service]]:
    ranks = sharded_inference_services(env, log_dir=log_dir)
    try:
        ranks[1].start(wait=False)
        ranks[0].start(timeout=120)
        yield ranks
    finally:
        for rank in ranks:
            rank.stop()


@pytest.fixture
def sharded(
    models_dir: Path, multimodal_dir: Path, hf_cache: Path, tmp_path: Path
) -> Iterator[list[Service]]:
    env = env_for(models_dir, hf_cache)
    env["MLX_SERVER_MODELS_DIRS"] += f",{multimodal_dir}"
    yield from start_ranks(env, tmp_path)


@pytest.fixture
def sharded_watched(models_dir: Path, hf_cache: Path, tmp_path: Path) -> Iterator[list[Service]]:
    """Two ranks whose watchdog gives up on a step after a few seconds."""
    env = {**env_for(models_dir, hf_cache), "MLX_SERVER_DISTRIBUTED_STEP_TIMEOUT_S": STEP_TIMEOUT_S}
    yield from start_ranks(env, tmp_path)


def chat(url: str, prompt: str, **extra: Any) -> httpx.Response:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 12,
        "temperature": 0,
        **extra,
    }
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)


def completions(url: str) -> list[str]:
    """Greedy answers: chat prompts, a one-token answer, a completion, concurrent requests."""
    answers = []
    for prompt in PROMPTS:
        answer = chat(url, prompt)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json()["choices"][0]["message"]["content"])
    one = chat(url, PROMPTS[0], max_tokens=1)
    assert one.status_code == 200, one.text
    answers.append(one.json()["choices"][0]["message"]["content"])
    text = httpx.post(
        f"{url}/v1/completions",
        json={"model": MODEL, "prompt": "once upon a time", "max_tokens": 10, "temperature": 0},
        timeout=120,
    )
    assert text.status_code == 200, text.text
    answers.append(text.json()["choices"][0]["text"])
    return answers


def test_two_ranks_answer_as_one_process_does(
    sharded: list[Service], models_dir: Path, hf_cache: Path, tmp_path: Path
) -> None:
    single = inference_service(env_for(models_dir, hf_cache), log_dir=tmp_path)
    single.start(timeout=120)
    try:
        expected = completions(single.url)
        single_budget = httpx.get(f"{single.url}/admin/pool").json()["max_memory_bytes"]
    finally:
        single.stop()
    assert completions(sharded[0].url) == expected
    # The server's budget is both ranks' (each holds half of every model).
    pool = httpx.get(f"{sharded[0].url}/admin/pool").json()
    assert pool["max_memory_bytes"] == 2 * single_budget
    capabilities = httpx.get(f"{sharded[0].url}/admin/capabilities").json()
    assert capabilities["memory_budget_bytes"] == 2 * single_budget
    # A manager in front sees one inference server with that budget, and judges by it.
    manager = manager_service(
        {
            "MODEL_MANAGER_INFERENCE_URL": sharded[0].url,
            "MODEL_MANAGER_DATA_DIR": str(tmp_path / "data"),
            "MODEL_MANAGER_HF_CACHE_DIR": str(hf_cache),
            "MODEL_MANAGER_MODELS_DIR": str(models_dir),
            "MODEL_MANAGER_LOG_LEVEL": "WARNING",
        },
        log_dir=tmp_path,
    )
    with running(manager):
        system = httpx.get(f"{manager.url}/api/system", timeout=30).json()["inference"]
        assert system["capabilities"]["memory_budget_bytes"] == 2 * single_budget
        verdict = httpx.get(f"{manager.url}/api/models/compatibility/{MODEL}", timeout=30).json()
        assert verdict["requirements"]["budget_bytes"] == 2 * single_budget
    # Structured output cannot be followed by the other rank: refused by name.
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}},
    }
    refused = chat(sharded[0].url, "hi", response_format=schema)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unsupported_parameter"
    assert refused.json()["error"]["param"].startswith("response_format")
    # Still in step after the refusal.
    assert completions(sharded[0].url)[:1] == expected[:1]


def test_vision_models_are_refused_by_name_embeddings_run_on_rank_0(
    sharded: list[Service],
) -> None:
    """The other ranks follow mlx-lm models only, so a sharded server refuses the models that
    load through mlx-vlm, and stays in step; an embedding model never joins the group's
    batches and is served by rank 0 alone.

    Reproduction: a chat on a vision-language model to a sharded server was answered 200 by
    rank 0 alone, its steps sent to ranks that never had the model, its sampling drawn from
    rank 0's random state only (the ranks' states must stay equal for sharded sampling).
    """
    url = sharded[0].url
    vision = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "local/vl", "messages": [{"role": "user", "content": "hi"}]},
        timeout=120,
    )
    assert vision.status_code == 422, vision.text
    assert vision.json()["error"]["code"] == "not_served_sharded"
    embedding = httpx.post(
        f"{url}/v1/embeddings", json={"model": "local/emb", "input": "hello"}, timeout=120
    )
    assert embedding.status_code == 200, embedding.text
    assert chat(url, PROMPTS[0]).status_code == 200
    assert httpx.get(f"{url}/ready", timeout=10).status_code == 200


def stream_until_lost(leader: Service, after_frames: int, act: Callable[[], None]) -> list[str]:
    """Stream a long greedy answer from ``leader``; call ``act`` once ``after_frames`` data
    frames have arrived; return every data frame the stream sent until it ended."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "tell me a long story"}],
        "max_tokens": 400,
        "temperature": 0,
        "stream": True,
    }
    frames: list[str] = []
    with httpx.stream("POST", f"{leader.url}/v1/chat/completions", json=body, timeout=60) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data: "):
                frames.append(line[6:])
                if len(frames) == after_frames:
                    act()
    return frames


def assert_lost(leader: Service, frames: list[str]) -> str:
    """The stream ended with the lost-rank error; the server says so and refuses new work.
    Returns the error's message."""
    assert frames[-1] != "[DONE]"
    error = json.loads(frames[-1])["error"]
    assert error["code"] == "distributed_rank_lost"
    ready = httpx.get(f"{leader.url}/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["worker"]["ok"] is False
    assert "rank" in ready.json()["checks"]["worker"]["message"]
    assert httpx.get(f"{leader.url}/health", timeout=10).status_code == 200  # alive, not ready
    again = chat(leader.url, "hello")
    assert again.status_code == 503
    assert again.json()["error"]["code"] == "distributed_rank_lost"
    message: str = error["message"]
    return message


def test_a_killed_rank_ends_the_request_with_an_error_and_the_server_says_so(
    sharded_watched: list[Service],
) -> None:
    """Regression: with the follower killed mid-request, the leader's worker thread could
    stay blocked for good in the ring's collective operation (waiting for bytes from the dead
    peer), and the stream sent keep-alive comments forever. Reproduction (before the fix):
    run this test a few times with two ``python -c 'while True: pass'`` loading the CPUs;
    one run in four hung until pytest-timeout."""
    leader, follower = sharded_watched
    frames = stream_until_lost(leader, 2, follower.kill)
    assert_lost(leader, frames)


def test_a_rank_that_hangs_ends_the_request_after_the_step_timeout(
    sharded_watched: list[Service],
) -> None:
    """A rank that stops answering without closing its connections (SIGSTOP here; a hung
    process or a host gone from the network elsewhere): the leader's collective operation
    never returns, and the watchdog ends the request once a step has made no progress for
    MLX_SERVER_DISTRIBUTED_STEP_TIMEOUT_S. Before the fix this stream never ended."""
    leader, follower = sharded_watched
    assert follower.proc is not None
    pid = follower.proc.pid
    try:
        frames = stream_until_lost(leader, 2, lambda: os.kill(pid, signal.SIGSTOP))
        message = assert_lost(leader, frames)
        assert "MLX_SERVER_DISTRIBUTED_STEP_TIMEOUT_S" in message
    finally:
        follower.kill()  # SIGKILL ends a stopped process too


def test_distributed_without_the_launcher_stops_with_one_line() -> None:
    env = base_env({"MLX_SERVER_DISTRIBUTED": "tensor", "MLX_SERVER_PORT": str(free_port())})
    for name in ("MLX_RANK", "MLX_HOSTFILE"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "inference_server"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
    )
    assert done.returncode != 0
    assert "MLX_SERVER_DISTRIBUTED=tensor needs the processes started by mlx.launch" in (
        done.stderr + done.stdout
    )
