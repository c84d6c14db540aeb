"""Constrained decoding in the batch: json_schema requests against plain ones, on one server.

Makes the 69 M-parameter random-weight model (the tiny-model tool's ``bench`` shape), starts
the inference server, and measures in one run:

- decode tokens/s of 8 concurrent streamed ``json_schema`` requests over 8 concurrent plain
  ones (same prompt length, same ``max_tokens``; a schema long enough that both run to
  ``max_tokens``), rounds alternating, the median of the rounds' ratios (target >= 0.85);
- time to first token with a schema never seen (compiled for the request) over the same
  schema again (compiled grammar reused), medians;
- the share of 100 constrained outputs (seeds 0-99, temperature 1, 8 at a time) that parse
  and validate against their schema (target 100 %);
- the same request sent to ``mlx_lm.server`` on the same model, and what it returned.

Prints one JSON line.

    python bench/structured.py [--rounds 3] [--tokens 64] [--cpu-blas PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Storage, emit, median, stream_chat
from bench.inference_vs_mlx_lm import Peer
from modelyard_dev.procs import inference_service, running
from modelyard_dev.tiny_model import preset, write_model

MODEL = "local/bench"
STREAMS = 8
# Long enough that a random model is still inside it after max_tokens tokens.
LONG: dict[str, Any] = {
    "type": "object",
    "properties": {
        "notes": {"type": "array", "items": {"type": "string"}, "minItems": 40},
    },
    "required": ["notes"],
}
# Short and bounded: a complete object fits well within 200 tokens.
VALID: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "colour": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
        "member": {"type": "boolean"},
    },
    "required": ["name", "age", "colour", "tags", "member"],
    "additionalProperties": False,
}


def fmt(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def body(content: str, tokens: int, schema: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": tokens,
        "temperature": 1.0,
        **kw,
    }
    if schema is not None:
        out["response_format"] = fmt(schema)
    return out


async def aggregate_tps(url: str, tokens: int, schema: dict[str, Any] | None, seed: int) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        results = await asyncio.gather(
            *(
                stream_chat(
                    client,
                    url + "/v1/chat/completions",
                    body(f"write record number {i}", tokens, schema, seed=seed + i),
                )
                for i in range(STREAMS)
            )
        )
    first = min(r.first for r in results)
    last = max(r.ended for r in results)
    return sum(r.tokens - 1 for r in results) / (last - first)


async def ttft(url: str, schema: dict[str, Any]) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        result = await stream_chat(
            client, url + "/v1/chat/completions", body("one record", 2, schema, temperature=0)
        )
    return result.ttft


def fresh_schema() -> dict[str, Any]:
    """A schema no request has used (a new property name), so its grammar is compiled."""
    name = f"f{uuid.uuid4().hex[:8]}"
    return {
        "type": "object",
        "properties": {name: {"type": "integer"}, **VALID["properties"]},
        "required": [name, *VALID["required"]],
        "additionalProperties": False,
    }


async def validity(url: str, count: int) -> dict[str, Any]:
    valid = stopped = 0
    semaphore = asyncio.Semaphore(STREAMS)

    async def one(client: httpx.AsyncClient, seed: int) -> None:
        nonlocal valid, stopped
        async with semaphore:
            r = await client.post(
                url + "/v1/chat/completions",
                json=body(f"person {seed}", 200, VALID, seed=seed),
            )
        choice = r.json()["choices"][0]
        stopped += choice["finish_reason"] == "stop"
        try:
            jsonschema.validate(json.loads(choice["message"]["content"]), VALID)
            valid += 1
        except (ValueError, jsonschema.ValidationError):
            pass

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(one(client, seed) for seed in range(count)))
    return {"outputs": count, "valid": valid, "finished_stop": stopped, "share": valid / count}


def peer_answer(model_path: Path, log: Path, cpu_blas: str | None) -> dict[str, Any]:
    with Peer(model_path, log, cpu_blas) as peer:
        r = httpx.post(
            peer.url + "/v1/chat/completions",
            json={**body("person 0", 200, VALID, seed=0), "model": str(model_path)},
            timeout=600,
        )
    out: dict[str, Any] = {"status": r.status_code}
    try:
        text = r.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        out["body"] = r.text[:300]
        return out
    out["content"] = text[:200]
    try:
        jsonschema.validate(json.loads(text), VALID)
        out["valid"] = True
    except (ValueError, jsonschema.ValidationError):
        out["valid"] = False
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--outputs", type=int, default=100)
    parser.add_argument("--cpu-blas", default=None, help="MLX_SERVER_CPU_BLAS for the server")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "structured", "model": "bench (69M, float16)"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        model_path = write_model(storage.models / "bench", preset("bench"))
        env = storage.env()
        if args.cpu_blas:
            env["MLX_SERVER_CPU_BLAS"] = args.cpu_blas
        server = inference_service(env, log_dir=root)
        with running(server):
            url = server.url
            asyncio.run(aggregate_tps(url, 8, None, 0))  # load and warm up
            asyncio.run(aggregate_tps(url, 8, LONG, 0))
            plain: list[float] = []
            constrained: list[float] = []
            for round_ in range(args.rounds):
                sides = [(plain, None), (constrained, LONG)]
                for store, schema in sides if round_ % 2 == 0 else sides[::-1]:
                    store.append(asyncio.run(aggregate_tps(url, args.tokens, schema, round_)))
            rounds = [c / p for c, p in zip(constrained, plain, strict=True)]
            result["decode"] = {
                "streams": STREAMS,
                "max_tokens": args.tokens,
                "plain_tps": round(median(plain), 2),
                "json_schema_tps": round(median(constrained), 2),
                "ratio": round(statistics.median(rounds), 3),
                "rounds": [round(r, 3) for r in rounds],
                "target": 0.85,
            }
            cold = [asyncio.run(ttft(url, fresh_schema())) for _ in range(5)]
            warm_schema = fresh_schema()
            asyncio.run(ttft(url, warm_schema))
            warm = [asyncio.run(ttft(url, warm_schema)) for _ in range(5)]
            result["ttft"] = {
                "cold_schema_ms": round(median(cold) * 1000, 1),
                "warm_schema_ms": round(median(warm) * 1000, 1),
                "ratio": round(median(cold) / median(warm), 3),
            }
            started = time.perf_counter()
            result["validity"] = asyncio.run(validity(url, args.outputs))
            result["validity"]["wall_s"] = round(time.perf_counter() - started, 1)
        result["mlx_lm_server"] = peer_answer(model_path, root / "peer.log", args.cpu_blas)
    emit(result)


if __name__ == "__main__":
    main()
