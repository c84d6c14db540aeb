"""Embeddings throughput: modelyard through both processes against mlx-embeddings in-process.

The model is a random-weight BERT encoder of all-MiniLM-L6-v2's shape (384 wide, 6 layers,
12 heads; sentence-transformers files, mean pooling, Normalize), made on the spot. 1,000
short English sentences are embedded in batches of 32:

- ``raw``: ``mlx_embeddings.generate`` on the same folder, in this process, one batch after
  another (its tokenizer pads each batch to its longest text, as the server does);
- ``served``: the same batches as ``POST /v1/embeddings`` requests through the manager, one
  after another, asking for base64 as the ``openai`` client does and decoding it;
- ``served_8``: the same batches sent by 8 concurrent clients.

The sides take turns, round by round, so drift on the machine hits them alike. Prints one
JSON line: texts/s of each side per round and their medians, and the ratios served / raw and
served_8 / raw (target for served: at least 0.8).

    python bench/embeddings.py [--rounds 3] [--texts 1000] [--batch 32] [--cpu-blas PATH]
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median
from inference_server.cpu_blas import activate as activate_cpu_blas
from modelyard_dev.procs import inference_service, manager_service, running
from modelyard_dev.tiny_model import english_corpus
from modelyard_dev.tiny_multimodal import MINILM_ENCODER, bert_embedding_files, write_files

MODEL = "local/minilm-shaped"


def batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def raw_run(folder: Path, groups: list[list[str]]) -> float:
    import mlx.core as mx
    import mlx_embeddings

    model, tokenizer = mlx_embeddings.load(str(folder))
    mlx_embeddings.generate(model, tokenizer, texts=groups[0])  # warm-up
    started = time.perf_counter()
    for group in groups:
        out = mlx_embeddings.generate(model, tokenizer, texts=group)
        np.array(out.text_embeds.astype(mx.float32))
    return sum(map(len, groups)) / (time.perf_counter() - started)


def _post(client: httpx.Client, group: list[str]) -> int:
    reply = client.post(
        "/v1/embeddings", json={"model": MODEL, "input": group, "encoding_format": "base64"}
    )
    reply.raise_for_status()
    data = reply.json()["data"]
    vectors = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in data]
    return len(vectors)


def served_run(base: str, groups: list[list[str]], clients: int) -> float:
    with httpx.Client(base_url=base, timeout=300) as warm:
        _post(warm, groups[0])
    shares = [groups[i::clients] for i in range(clients)]

    def work(share: list[list[str]]) -> int:
        with httpx.Client(base_url=base, timeout=300) as client:
            return sum(_post(client, group) for group in share)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(work, shares))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--cpu-blas", default="bundled")
    args = parser.parse_args()
    activate_cpu_blas(args.cpu_blas)  # the same BLAS as the server, before MLX is imported

    corpus = english_corpus(sentences=args.texts)
    texts = (corpus * (args.texts // len(corpus) + 1))[: args.texts]
    groups = batches(texts, args.batch)
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-emb-") as tmp:
        root = Path(tmp)
        models = root / "models"
        folder = write_files(
            models / MODEL.removeprefix("local/"), bert_embedding_files(shape=MINILM_ENCODER)
        )
        inference = inference_service(
            {
                "MLX_SERVER_MODELS_DIRS": str(models),
                "MLX_SERVER_HF_CACHE_DIR": str(root / "cache"),
                "MLX_SERVER_CPU_BLAS": args.cpu_blas,
                "MLX_SERVER_EMBEDDING_BATCH_SIZE": str(args.batch),
            },
            log_dir=root,
        )
        manager = manager_service(
            {
                "MODEL_MANAGER_INFERENCE_URL": inference.url,
                "MODEL_MANAGER_DATA_DIR": str(root / "data"),
                "MODEL_MANAGER_HF_CACHE_DIR": str(root / "cache"),
                "MODEL_MANAGER_MODELS_DIR": str(models),
            },
            log_dir=root,
        )
        rounds: dict[str, list[float]] = {"raw": [], "served": [], "served_8": []}
        with running(inference, manager):
            for _ in range(args.rounds):
                rounds["raw"].append(raw_run(folder, groups))
                rounds["served"].append(served_run(manager.url, groups, 1))
                rounds["served_8"].append(served_run(manager.url, groups, 8))
    result: dict[str, object] = {
        "benchmark": "embeddings",
        "model": "BERT 384x6 (all-MiniLM-L6-v2 shape), float32, random weights",
        "texts": args.texts,
        "batch": args.batch,
        "cpu_blas": args.cpu_blas,
    }
    for side, values in rounds.items():
        result[f"{side}_texts_per_s"] = round(median(values), 1)
        result[f"{side}_rounds"] = [round(v, 1) for v in values]
    for side in ("served", "served_8"):
        ratios = [s / r for s, r in zip(rounds[side], rounds["raw"], strict=True)]
        result[f"{side}_over_raw"] = round(median(ratios), 3)
        result[f"{side}_over_raw_rounds"] = [round(r, 3) for r in ratios]
    emit(result)


if __name__ == "__main__":
    main()
