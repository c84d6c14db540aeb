"""Catalog latency: ``GET /v1/models`` and ``GET /api/models/local`` with hundreds of models.

Generates ``--models`` model repos (default 500) in a temporary Hugging Face cache, in the
standard layout (blobs, snapshot symlinks, ``refs/main``): a real ``config.json`` (several
families, sizes, quantizations, some multimodal) and small weight and tokenizer stubs. Starts
the inference server and the manager on that cache, makes one warm-up call per route, then
times ``--calls`` sequential calls (default 100) of each, interleaved. Prints one JSON line:
p50/p99 per route against the budget (p50 <= 50 ms, p99 <= 200 ms), and their ratios.

    python bench/catalog.py [--models 500] [--calls 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Storage, emit, percentile, require_shared_storage
from modelyard_dev.procs import inference_service, manager_service, running

TARGET_P50_MS = 50.0
TARGET_P99_MS = 200.0

FAMILIES = (
    ("llama", "LlamaForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("mistral", "MistralForCausalLM"),
    ("gemma2", "Gemma2ForCausalLM"),
    ("phi3", "Phi3ForCausalLM"),
    ("qwen2_vl", "Qwen2VLForConditionalGeneration"),
)
SHAPES = ((896, 24, 14, 2), (2048, 16, 32, 8), (4096, 32, 32, 8), (5120, 40, 40, 8))


def config_for(index: int) -> dict[str, object]:
    model_type, architecture = FAMILIES[index % len(FAMILIES)]
    hidden, layers, heads, kv_heads = SHAPES[index % len(SHAPES)]
    config: dict[str, object] = {
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": hidden * 3,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": (4096, 8192, 32768, 131072)[index % 4],
        "vocab_size": 32000 + index,
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": False,
    }
    if index % 3 == 0:
        config["quantization"] = {"group_size": 64, "bits": (4, 8)[index % 2]}
    if model_type == "qwen2_vl":
        config["vision_config"] = {"depth": 32}
    return config


def weight_stub(index: int) -> bytes:
    header = json.dumps({"__metadata__": {"format": "mlx" if index % 3 == 0 else "pt"}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 1024


def install(cache: Path, repo_id: str, files: dict[str, bytes]) -> None:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def generate(cache: Path, count: int) -> None:
    for index in range(count):
        files = {
            "config.json": json.dumps(config_for(index), indent=2).encode(),
            "model.safetensors": weight_stub(index),
            "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}',
            "tokenizer_config.json": json.dumps({"model_max_length": 4096}).encode(),
        }
        install(cache, f"bench-org-{index % 7}/model-{index:04d}-{index * 37 % 1000}b", files)


def timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        storage = Storage.under(root)
        generate(storage.hub, args.models)
        inference = inference_service(storage.env(), log_dir=root)
        manager = manager_service(
            {
                **storage.env(),
                "MODEL_MANAGER_INFERENCE_URL": inference.url,
                "MODEL_MANAGER_LOG_LEVEL": "WARNING",
            },
            log_dir=root,
        )
        with running(inference, manager), httpx.Client(base_url=manager.url, timeout=30) as client:
            require_shared_storage(manager.url)
            first = client.get("/v1/models").json()["data"]
            if len(first) != args.models:
                raise SystemExit(f"expected {args.models} models, the catalog lists {len(first)}")
            timed(client, "/api/models/local")
            catalog: list[float] = []
            local: list[float] = []
            for _ in range(args.calls):
                catalog.append(timed(client, "/v1/models"))
                local.append(timed(client, "/api/models/local"))
    result: dict[str, object] = {
        "benchmark": "catalog",
        "models": args.models,
        "calls": args.calls,
        "v1_models_p50_ms": round(percentile(catalog, 50), 2),
        "v1_models_p99_ms": round(percentile(catalog, 99), 2),
        "local_p50_ms": round(percentile(local, 50), 2),
        "local_p99_ms": round(percentile(local, 99), 2),
        "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
    }
    for name in ("v1_models", "local"):
        result[f"{name}_p50_ratio"] = round(float(result[f"{name}_p50_ms"]) / TARGET_P50_MS, 3)  # type: ignore[arg-type]
        result[f"{name}_p99_ratio"] = round(float(result[f"{name}_p99_ms"]) / TARGET_P99_MS, 3)  # type: ignore[arg-type]
    emit(result)


if __name__ == "__main__":
    main()
