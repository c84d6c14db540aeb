"""Inference throughput: modelyard's inference server vs ``mlx_lm.server`` on the same model.

One run, one JSON line. Both servers and the manager are started on the same machine and
measured one at a time with the same client, taking turns round by round (the order rotates
each round), so that drift on a shared machine hits every side alike:
  (1) single-stream decode tokens/s,
  (2) aggregate tokens/s with N concurrent streams,
  (3) wall time of 20 one-token requests alternating between two models (the peer reloads
      each time), after one warm-up request to each model,
  (4) single-stream decode tokens/s through the manager / raw ``mlx_lm.stream_generate``
      in-process (in this process, between the servers' turns) on the same model and prompt.
An idle server is not touched while another is measured. Each figure is the median over the
rounds; the per-round ratios are printed too.

Like for like by default: both servers multiply with the BLAS bundled with MLX
(``MLX_SERVER_CPU_BLAS=bundled``) on a float16 model, and modelyard does not upcast.
- ``--cpu-blas PATH``: every side (the peer and the raw baseline too, loaded before MLX as
  modelyard loads it) multiplies with this CBLAS library, e.g. Debian's OpenBLAS
  ``/usr/lib/x86_64-linux-gnu/libopenblas.so.0``; with ``--dtype float32`` the model is
  written in float32, so every side computes in float32 with it: still like for like.
- ``--cpu-float32``: modelyard's server runs with ``MLX_SERVER_CPU_FLOAT32=auto`` (``true``
  with the bundled BLAS) and upcasts half-precision weights while the peer keeps them: not like
  for like, but what the setting buys a user.

    python bench/inference_vs_mlx_lm.py [--shape bench] [--tokens 128] [--streams 8]
        [--rounds 3] [--concurrent-rounds 2] [--switch-rounds 2]
        [--cpu-blas PATH] [--dtype float16|bfloat16|float32] [--cpu-float32]
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

from bench._common import Storage, emit, median, require_shared_storage, stream_chat
from inference_server.cpu_blas import activate as activate_cpu_blas
from modelyard_dev.procs import base_env, free_port, inference_service, manager_service, running
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

    def __init__(self, model: Path, log: Path, cpu_blas: str | None) -> None:
        self.port = free_port()
        self.model = model
        self.log = log
        self.cpu_blas = cpu_blas
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
            # The same library modelyard loads, for the peer: found before the bundled one.
            env=base_env({"LD_PRELOAD": self.cpu_blas} if self.cpu_blas else None),
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


class Raw:
    """``mlx_lm.stream_generate`` in this process, on a model loaded once."""

    def __init__(self, model_path: Path, tokens: int) -> None:
        from mlx_lm import load

        loaded = load(str(model_path))
        self.model, self.tokenizer = loaded[0], loaded[1]
        self.prompt = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": PROMPT}], add_generation_prompt=True
        )
        self.tokens = tokens
        self.decode_tps(8)  # warm-up

    def decode_tps(self, tokens: int | None = None) -> float:
        from mlx_lm import stream_generate

        first = last = 0.0
        count = 0
        for _response in stream_generate(
            self.model, self.tokenizer, self.prompt, max_tokens=tokens or self.tokens
        ):
            now = time.perf_counter()
            first = first or now
            last = now
            count += 1
        return (count - 1) / (last - first)


def rotated(items: list[Any], by: int) -> list[Any]:
    by %= len(items)
    return items[by:] + items[:by]


def ratios(top: list[float], bottom: list[float]) -> list[float]:
    return [round(a / b, 3) for a, b in zip(top, bottom, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", default="bench")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrent-rounds", type=int, default=2)
    parser.add_argument("--switch-rounds", type=int, default=2)
    parser.add_argument("--cpu-blas", default="bundled")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--cpu-float32", action="store_true")
    args = parser.parse_args()
    cpu_blas = activate_cpu_blas(args.cpu_blas)  # for the raw baseline, before MLX is imported
    upcast = ("auto" if cpu_blas else "true") if args.cpu_float32 else "false"

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        models = storage.models
        shape = preset(args.shape)
        paths = [
            write_model(models / f"bench-{i}", shape, seed=i, dtype=args.dtype) for i in range(2)
        ]
        ids = [f"local/bench-{i}" for i in range(2)]
        inference = inference_service(
            {
                **storage.env(),
                "MLX_SERVER_CPU_BLAS": args.cpu_blas,
                "MLX_SERVER_CPU_FLOAT32": upcast,
            },
            log_dir=root,
        )
        manager = manager_service(
            {**storage.env(), "MODEL_MANAGER_INFERENCE_URL": inference.url}, log_dir=root
        )
        chat_path = "/v1/chat/completions"
        peer_blas = cpu_blas.path if cpu_blas else None
        with Peer(paths[0], root / "peer.log", peer_blas) as peer, running(inference, manager):
            require_shared_storage(manager.url)
            raw = Raw(paths[0], args.tokens)
            # name -> (url, model id as that server names it)
            servers = {
                "peer": (peer.url + chat_path, str(paths[0])),
                "modelyard": (inference.url + chat_path, ids[0]),
                "manager": (manager.url + chat_path, ids[0]),
            }
            single_tps: dict[str, list[float]] = {name: [] for name in [*servers, "raw"]}
            for r in range(args.rounds):
                for name in rotated([*servers, "raw"], r):
                    if name == "raw":
                        single_tps[name].append(raw.decode_tps())
                    else:
                        url, model = servers[name]
                        single_tps[name].append(asyncio.run(single(url, model, args.tokens, 1)))
            concurrent_tps: dict[str, list[float]] = {"peer": [], "modelyard": []}
            for r in range(args.concurrent_rounds):
                for name in rotated(["peer", "modelyard"], r):
                    url, model = servers[name]
                    concurrent_tps[name].append(
                        asyncio.run(concurrent(url, model, args.tokens, args.streams))
                    )
            # Switching last: it leaves the peer holding the second model.
            switch_s: dict[str, list[float]] = {"peer": [], "modelyard": [], "no_switch": []}
            peer_models = [str(path) for path in paths]
            ours_url = servers["modelyard"][0]
            for r in range(args.switch_rounds):
                for name in rotated(["peer", "modelyard", "no_switch"], r):
                    if name == "peer":
                        run = alternate(servers["peer"][0], peer_models, args.switches)
                    elif name == "modelyard":
                        run = alternate(ours_url, ids, args.switches)
                    else:  # the same requests on one model: what switching costs if it is free
                        run = alternate(ours_url, [ids[0], ids[0]], args.switches)
                    switch_s[name].append(asyncio.run(run))

    peer_fig = {
        "single_tps": median(single_tps["peer"]),
        "concurrent_tps": median(concurrent_tps["peer"]),
        "switch_wall_s": median(switch_s["peer"]),
    }
    ours_fig = {
        "single_tps": median(single_tps["modelyard"]),
        "concurrent_tps": median(concurrent_tps["modelyard"]),
        "switch_wall_s": median(switch_s["modelyard"]),
        "no_switch_wall_s": median(switch_s["no_switch"]),
        "manager_single_tps": median(single_tps["manager"]),
    }
    raw_tps = median(single_tps["raw"])
    emit(
        {
            "benchmark": "inference_vs_mlx_lm",
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
            "model_shape": args.shape,
            "cpu_float32": upcast,
            "cpu_blas": cpu_blas.path if cpu_blas else "bundled",
            "dtype": args.dtype,
            "tokens": args.tokens,
            "streams": args.streams,
            "rounds": {
                "single": args.rounds,
                "concurrent": args.concurrent_rounds,
                "switch": args.switch_rounds,
            },
            "peer": peer_fig,
            "modelyard": ours_fig,
            "raw_stream_generate_tps": raw_tps,
            "ratio_single": ours_fig["single_tps"] / peer_fig["single_tps"],
            "ratio_concurrent": ours_fig["concurrent_tps"] / peer_fig["concurrent_tps"],
            "switch_speedup": peer_fig["switch_wall_s"] / ours_fig["switch_wall_s"],
            # The best any server could do here: the peer's time over requests with no switch.
            "switch_speedup_bound": peer_fig["switch_wall_s"] / ours_fig["no_switch_wall_s"],
            "ratio_manager_vs_raw": ours_fig["manager_single_tps"] / raw_tps,
            "ratio_manager_vs_direct": ours_fig["manager_single_tps"] / ours_fig["single_tps"],
            "by_round": {
                "single": ratios(single_tps["modelyard"], single_tps["peer"]),
                "concurrent": ratios(concurrent_tps["modelyard"], concurrent_tps["peer"]),
                "switch": ratios(switch_s["peer"], switch_s["modelyard"]),
                "manager_vs_raw": ratios(single_tps["manager"], single_tps["raw"]),
            },
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
