"""The pool with a real MLX worker and real tiny models (in-process, no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inference_server.cpu_blas import CpuBlas
from inference_server.errors import ModelNotFoundError, ModelNotLoadableError, PoolBusyError
from inference_server.pool.pool import ModelPool
from inference_server.runtime.events import Done, Failed, Job
from inference_server.runtime.sampling import SamplingParams
from inference_server.runtime.worker import MLXWorker
from shared_schemas.pool import SlotState

GB = 2**30


@pytest.fixture
async def worker() -> AsyncIterator[MLXWorker]:
    w = MLXWorker()
    w.start()
    yield w
    w.stop()


def make_pool(worker: MLXWorker, models_dir: Path, tmp_path: Path, **kw: object) -> ModelPool:
    opts: dict[str, object] = {"max_memory_bytes": 4 * GB, "max_models": 4, "idle_ttl_s": 0.0}
    opts.update(kw)
    return ModelPool(worker, cache_dir=tmp_path / "cache", models_dirs=[models_dir], **opts)  # type: ignore[arg-type]


async def test_single_flight_load(worker: MLXWorker, models_dir: Path, tmp_path: Path) -> None:
    pool = make_pool(worker, models_dir, tmp_path)
    slots = await asyncio.gather(*(pool.ensure_ready("local/tiny-a") for _ in range(8)))
    assert all(s is slots[0] for s in slots)
    status = pool.status()
    assert status.total_loads == 1
    (info,) = status.slots
    assert info.state == SlotState.READY and info.load_count == 1 and info.memory_bytes > 0
    await pool.close()


async def test_lru_eviction_by_model_count(
    worker: MLXWorker, models_dir: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, models_dir, tmp_path, max_models=1)
    await pool.ensure_ready("local/tiny-a")
    await pool.ensure_ready("local/tiny-b")
    assert [s.id for s in pool.status().slots] == ["local/tiny-b"]
    assert pool.status().total_evictions == 1
    await pool.close()


async def test_lru_order(worker: MLXWorker, models_dir: Path, tmp_path: Path) -> None:
    pool = make_pool(worker, models_dir, tmp_path, max_models=2)
    await pool.ensure_ready("local/tiny-a")
    await pool.ensure_ready("local/tiny-b")
    async with pool.use("local/tiny-a"):  # touch a: b is now the least recently used
        pass
    await pool.ensure_ready("local/tiny-c")
    assert {s.id for s in pool.status().slots} == {"local/tiny-a", "local/tiny-c"}
    await pool.close()


async def test_pinned_model_survives(worker: MLXWorker, models_dir: Path, tmp_path: Path) -> None:
    pool = make_pool(worker, models_dir, tmp_path, max_models=1)
    await pool.ensure_ready("local/tiny-a", pin=True)
    with pytest.raises(PoolBusyError) as info:
        await pool.ensure_ready("local/tiny-b")
    assert info.value.headers["Retry-After"]
    assert [s.id for s in pool.status().slots] == ["local/tiny-a"]
    await pool.close()


async def test_in_flight_model_is_not_evicted(
    worker: MLXWorker, models_dir: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, models_dir, tmp_path, max_models=1)
    async with pool.use("local/tiny-a"):
        with pytest.raises(PoolBusyError):
            await pool.ensure_ready("local/tiny-b")
    await pool.ensure_ready("local/tiny-b")  # idle now: a is evicted
    assert [s.id for s in pool.status().slots] == ["local/tiny-b"]
    await pool.close()


async def test_memory_budget_refuses_a_model_too_big(
    worker: MLXWorker, models_dir: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, models_dir, tmp_path, max_memory_bytes=1000)
    with pytest.raises(PoolBusyError):
        await pool.ensure_ready("local/tiny-a")
    assert pool.status().slots == []


async def test_idle_ttl_unloads_and_returns_memory(
    worker: MLXWorker, models_dir: Path, tmp_path: Path
) -> None:
    import mlx.core as mx

    pool = make_pool(worker, models_dir, tmp_path, idle_ttl_s=0.2)
    before = await worker.call(mx.get_active_memory)
    await pool.ensure_ready("local/tiny-a")
    loaded = await worker.call(mx.get_active_memory)
    assert loaded > before
    assert await pool.reap_idle() == []  # not idle long enough
    await asyncio.sleep(0.3)
    assert await pool.reap_idle() == ["local/tiny-a"]
    after = await worker.call(mx.get_active_memory)
    assert after <= before + (loaded - before) // 10
    assert pool.status().slots == []


async def test_keep_alive_zero_unloads_after_the_request(
    worker: MLXWorker, models_dir: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, models_dir, tmp_path)
    async with pool.use("local/tiny-a", keep_alive=0):
        pass
    for _ in range(100):
        if not pool.status().slots:
            break
        await asyncio.sleep(0.02)
    assert pool.status().slots == []


async def test_unknown_and_unloadable_models(
    worker: MLXWorker, models_dir: Path, tmp_path: Path
) -> None:
    bad_root = tmp_path / "bad"
    (bad_root / "noconfig").mkdir(parents=True)
    (bad_root / "weird").mkdir()
    (bad_root / "weird" / "config.json").write_text('{"model_type": "not_a_real_arch"}')
    (bad_root / "noweights").mkdir()
    (bad_root / "noweights" / "config.json").write_text('{"model_type": "llama"}')
    (bad_root / "pickled").mkdir()
    (bad_root / "pickled" / "config.json").write_text('{"model_type": "llama"}')
    (bad_root / "pickled" / "pytorch_model.bin").write_bytes(b"x")
    pool = ModelPool(
        worker, cache_dir=tmp_path / "c", models_dirs=[bad_root], max_memory_bytes=GB, max_models=2
    )
    with pytest.raises(ModelNotFoundError):
        await pool.ensure_ready("local/missing")
    with pytest.raises(ModelNotLoadableError, match=r"config\.json"):
        await pool.ensure_ready("local/noconfig")
    with pytest.raises(ModelNotLoadableError, match="not_a_real_arch"):
        await pool.ensure_ready("local/weird")
    with pytest.raises(ModelNotLoadableError, match="safetensors"):
        await pool.ensure_ready("local/noweights")
    with pytest.raises(ModelNotLoadableError, match="pickle"):
        await pool.ensure_ready("local/pickled")
    assert pool.status().slots == []


async def test_failed_load_answers_every_waiter(worker: MLXWorker, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    (root / "m").mkdir(parents=True)
    (root / "m" / "config.json").write_text('{"model_type": "llama", "hidden_size": 8}')
    (root / "m" / "model.safetensors").write_bytes(b"not a safetensors file")
    pool = ModelPool(
        worker, cache_dir=tmp_path / "c", models_dirs=[root], max_memory_bytes=GB, max_models=2
    )
    results = await asyncio.gather(
        *(pool.ensure_ready("local/m") for _ in range(4)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    assert pool.status().slots == []


@pytest.mark.parametrize(
    ("cpu_float32", "blas", "dtype"),
    [
        (False, None, "float16"),
        (False, CpuBlas("/opt/libopenblas.so.0"), "float16"),
        (True, None, "float32"),
        ("auto", None, "float16"),  # the bundled reference BLAS: batches would be slower
        ("auto", CpuBlas("/opt/libopenblas.so.0"), "float32"),
    ],
)
async def test_float16_model_upcast_on_the_cpu_backend_when_asked(
    worker: MLXWorker,
    models_dir: Path,
    tmp_path: Path,
    cpu_float32: object,
    blas: CpuBlas | None,
    dtype: str,
) -> None:
    pool = make_pool(worker, models_dir, tmp_path, cpu_float32=cpu_float32, cpu_blas=blas)
    slot = await pool.ensure_ready("local/tiny-a")
    resolved = pool.resolve("local/tiny-a")
    status = pool.status()
    (info,) = status.slots
    factor = 2 if dtype == "float32" else 1
    assert status.cpu_blas == (blas.path if blas else None)
    assert info.compute_dtype == dtype
    assert info.estimated_bytes == resolved.weight_bytes * factor
    assert info.memory_bytes >= resolved.weight_bytes * factor * 0.9
    job = Job(
        model_id=slot.id,
        prompt=[1, 5, 9, 12],
        max_tokens=6,
        params=SamplingParams(temperature=0.0),
        stop=[],
        loop=asyncio.get_running_loop(),
    )
    worker.submit(job)
    events: list[object] = []
    while not any(isinstance(e, Done | Failed) for e in events):
        events += await asyncio.wait_for(job.queue.get(), 30)
    done = next(e for e in events if isinstance(e, Done | Failed))
    assert isinstance(done, Done) and done.completion_tokens == 6  # the model generates
    await pool.close()
