"""Embedding models in the pool (in-process, real MLX worker): load, evict, pin, TTL, unload."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inference_server.embeddings.runtime import EmbeddingRuntime
from inference_server.errors import PoolBusyError
from inference_server.pool.kinds import ModelKind
from inference_server.pool.pool import ModelPool
from inference_server.runtime.worker import MLXWorker
from modelyard_dev.tiny_model import TINY, write_model
from modelyard_dev.tiny_multimodal import (
    bert_embedding_files,
    decoder_embedding_files,
    write_files,
)

GB = 2**30
BERT, DECODER, CHAT = "local/bert", "local/decoder", "local/chat"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pool-embedding-models")
    write_files(path / "bert", bert_embedding_files())
    write_files(path / "decoder", decoder_embedding_files())
    write_model(path / "chat", TINY)
    return path


@pytest.fixture
async def worker() -> AsyncIterator[MLXWorker]:
    w = MLXWorker()
    w.start()
    yield w
    w.stop()


def make_pool(worker: MLXWorker, root: Path, tmp_path: Path, **kw: object) -> ModelPool:
    opts: dict[str, object] = {"max_memory_bytes": 4 * GB, "max_models": 4, "idle_ttl_s": 0.0}
    opts.update(kw)
    return ModelPool(worker, cache_dir=tmp_path / "cache", models_dirs=[root], **opts)  # type: ignore[arg-type]


async def test_kinds_are_read_from_disk(worker: MLXWorker, root: Path, tmp_path: Path) -> None:
    pool = make_pool(worker, root, tmp_path)
    assert await pool.kind_of(BERT) == ModelKind.EMBEDDING
    assert await pool.kind_of(DECODER) == ModelKind.EMBEDDING
    assert await pool.kind_of(CHAT) == ModelKind.CHAT


async def test_embedding_model_loads_and_measures_its_memory(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, root, tmp_path)
    slot = await pool.ensure_ready(BERT)
    assert isinstance(slot.runtime, EmbeddingRuntime)
    (info,) = pool.status().slots
    assert info.kind == "embedding" and info.memory_bytes > 0 and info.compute_dtype == "float32"
    await pool.close()


async def test_lru_evicts_embedding_and_chat_models_alike(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, root, tmp_path, max_models=2)
    await pool.ensure_ready(BERT)
    await pool.ensure_ready(CHAT)
    async with pool.use(BERT):  # the chat model is now the least recently used
        pass
    await pool.ensure_ready(DECODER)
    assert {s.id for s in pool.status().slots} == {BERT, DECODER}
    await pool.ensure_ready(CHAT)  # and now the bert model is the oldest
    assert {s.id for s in pool.status().slots} == {DECODER, CHAT}
    assert pool.status().total_evictions == 2
    await pool.close()


async def test_embedding_model_in_use_is_not_evicted(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, root, tmp_path, max_models=1)
    async with pool.use(BERT):
        with pytest.raises(PoolBusyError):
            await pool.ensure_ready(CHAT)
    await pool.ensure_ready(CHAT)
    assert [s.id for s in pool.status().slots] == [CHAT]
    await pool.close()


async def test_pinned_embedding_model_survives(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, root, tmp_path, max_models=1)
    await pool.ensure_ready(DECODER, pin=True)
    with pytest.raises(PoolBusyError):
        await pool.ensure_ready(BERT)
    assert [s.id for s in pool.status().slots] == [DECODER]
    await pool.close()


async def test_idle_ttl_unloads_an_embedding_model_and_frees_its_memory(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    import mlx.core as mx

    pool = make_pool(worker, root, tmp_path, idle_ttl_s=0.2)
    before = await worker.call(mx.get_active_memory)
    runtime = (await pool.ensure_ready(BERT)).runtime
    await worker.call(functools.partial(runtime.embed, [[2, 40, 3]], None))
    loaded = await worker.call(mx.get_active_memory)
    assert loaded > before
    del runtime
    await asyncio.sleep(0.3)
    assert await pool.reap_idle() == [BERT]
    after = await worker.call(mx.get_active_memory)
    assert after <= before + (loaded - before) // 10
    assert pool.status().slots == []


async def test_unload_then_load_again(worker: MLXWorker, root: Path, tmp_path: Path) -> None:
    pool = make_pool(worker, root, tmp_path)
    await pool.ensure_ready(DECODER)
    assert await pool.unload(DECODER)
    assert pool.status().slots == []
    slot = await pool.ensure_ready(DECODER)
    assert slot.load_count == 2
    await pool.close()
