"""Inference throughput: modelyard's inference server vs ``mlx_lm.server`` on the same model.

One run, one JSON line. Each server runs alone (one at a time) on the same machine with the
same client:
  (1) single-stream decode tokens/s,
  (2) aggregate tokens/s with N concurrent streams,
  (3) wall time of 20 one-token requests alternating between two models (the peer reloads
      each time), after one warm-up request to each model,
  (4) single-stream decode tokens/s through the manager / raw ``mlx_lm.stream_generate``
      in-process on the same model and prompt.

    python bench/inference_vs_mlx_lm.py [--shape bench] [--tokens 128] [--streams 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median, stream_chat
from modelyard_dev.procs import base_env, free_port, inference_service, manager_service
from modelyard_dev.tiny_model import preset, write_model

PROMPT = "Write a long story about a fox who learns to sail."


def chat(model: str, tokens: int, content: str = PROMPT) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": tokens,
        "temperature": 0.0,
    }


async def single(url: str, model: str, tokens: int, runs: int) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        await stream_chat(client, url, chat(model, 8))  # warm-up (load, compile)
        results = [await stream_chat(client, url, chat(model, tokens)) for _ in range(runs)]
    return median([r.decode_tps for r in results])


async def concurrent(url: str, model: str, tokens: int, streams: int) -> float:
    limits = httpx.Limits(max_connections=streams * 2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await stream_chat(client, url, chat(model, 8))
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                stream_chat(client, url, chat(model, tokens, f"{PROMPT} ({i})"))
                for i in range(streams)
            )
        )
        wall = time.perf_counter() - started
    return sum(r.tokens for r in results) / wall


async def alternate(url: str, models: list[str], requests: int) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        # One warm-up request per model, on both servers alike: the timed part measures
        # switching between models, not a model's first load or its first prompt.
        for model in dict.fromkeys(models):
            await stream_chat(client, url, chat(model, 1))
        started = time.perf_counter()
        # One token each: the time is the switch (a reload for a single-model server).
        for i in range(requests):
            await stream_chat(client, url, chat(models[i % 2], 1))
        return time.perf_counter() - started


class Peer:
    """``python -m mlx_lm.server`` started on a free loopback port."""

    def __init__(self, model: Path, log: Path) -> None:
        self.port = free_port()
        self.model = model
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Peer:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlx_lm.server",
                "--model",
                str(self.model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=base_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError("mlx_lm.server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def raw_decode_tps(model_path: Path, tokens: int) -> float:
    """Decode tokens/s of ``mlx_lm.stream_generate`` in this process (no server)."""
    from mlx_lm import load, stream_generate

    loaded = load(str(model_path))
    model, tokenizer = loaded[0], loaded[1]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True
    )
    rates = []
    for _ in range(3):
        first = last = 0.0
        count = 0
        for _response in stream_generate(model, tokenizer, prompt, max_tokens=tokens):
            now = time.perf_counter()
            first = first or now
            last = now
            count += 1
        rates.append((count - 1) / (last - first))
    del model
    return median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="bench")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        models = root / "models"
        shape = preset(args.shape)
        paths = [write_model(models / f"bench-{i}", shape, seed=i) for i in range(2)]
        ids = [f"local/bench-{i}" for i in range(2)]

        peer: dict[str, float] = {}
        with Peer(paths[0], root / "peer.log") as p:
            url = p.url + "/v1/chat/completions"
            peer["single_tps"] = asyncio.run(single(url, str(paths[0]), args.tokens, args.runs))
            peer["concurrent_tps"] = asyncio.run(
                concurrent(url, str(paths[0]), args.tokens, args.streams)
            )
            peer["switch_wall_s"] = asyncio.run(
                alternate(url, [str(p) for p in paths], args.switches)
            )

        ours: dict[str, float] = {}
        inference = inference_service(
            {"MLX_SERVER_MODELS_DIRS": str(models), "MLX_SERVER_HF_CACHE_DIR": str(root / "hf")},
            log_dir=root,
        )
        manager = manager_service(
            {
                "MODEL_MANAGER_INFERENCE_URL": inference.url,
                "MODEL_MANAGER_DATA_DIR": str(root / "data"),
            },
            log_dir=root,
        )
        inference.start()
        try:
            url = inference.url + "/v1/chat/completions"
            ours["single_tps"] = asyncio.run(single(url, ids[0], args.tokens, args.runs))
            ours["concurrent_tps"] = asyncio.run(concurrent(url, ids[0], args.tokens, args.streams))
            ours["switch_wall_s"] = asyncio.run(alternate(url, ids, args.switches))
            # The same requests on one model: what switching would cost if it were free.
            ours["no_switch_wall_s"] = asyncio.run(alternate(url, [ids[0], ids[0]], args.switches))
            manager.start()
            try:
                ours["manager_single_tps"] = asyncio.run(
                    single(manager.url + "/v1/chat/completions", ids[0], args.tokens, args.runs)
                )
            finally:
                manager.stop()
        finally:
            inference.stop()

        raw = raw_decode_tps(paths[0], args.tokens)

    emit(
        {
            "benchmark": "inference_vs_mlx_lm",
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
            "model_shape": args.shape,
            "tokens": args.tokens,
            "streams": args.streams,
            "peer": peer,
            "modelyard": ours,
            "raw_stream_generate_tps": raw,
            "ratio_single": ours["single_tps"] / peer["single_tps"],
            "ratio_concurrent": ours["concurrent_tps"] / peer["concurrent_tps"],
            "switch_speedup": peer["switch_wall_s"] / ours["switch_wall_s"],
            # The best any server could do here: the peer's time over requests with no switch.
            "switch_speedup_bound": peer["switch_wall_s"] / ours["no_switch_wall_s"],
            "ratio_manager_vs_raw": ours["manager_single_tps"] / raw,
            "targets": {
                "ratio_single": 0.95,
                "ratio_concurrent": 1.0,
                "switch_speedup": 3.0,
                "ratio_manager_vs_raw": 0.9,
            },
        }
    )


if __name__ == "__main__":
    main()
