"""The completion batch size is the most sequences decoded together, whatever the prefill
batch size: mlx-lm's BatchGenerator raises its completion batch to the prefill batch
(``max(completion, prefill)``), so the worker keeps the prefill batch within it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inference_server.pool.pool import ModelPool
from inference_server.runtime.events import Delta, Done, Event, Failed, Job
from inference_server.runtime.sampling import SamplingParams
from inference_server.runtime.worker import MLXWorker

GB = 1024**3


async def test_a_completion_batch_of_one_decodes_one_sequence_at_a_time(
    models_dir: Path, tmp_path: Path
) -> None:
    """Regression: ``MLX_SERVER_COMPLETION_BATCH_SIZE=1`` (with the default prefill batch of
    8) still decoded eight sequences together. Reproduction: two greedy jobs submitted at
    once to a worker made with ``completion_batch_size=1``: the second's first token came
    before the first was done (their tokens interleaved)."""
    worker = MLXWorker(completion_batch_size=1, prefill_batch_size=8)
    worker.start()
    pool = ModelPool(
        worker,
        cache_dir=tmp_path / "cache",
        models_dirs=[models_dir],
        max_memory_bytes=4 * GB,
        max_models=2,
        idle_ttl_s=0.0,
    )
    try:
        async with pool.use("local/tiny-a") as slot:
            loop = asyncio.get_running_loop()
            jobs = [
                Job(
                    model_id=slot.id,
                    prompt=[1, 5, 9, 12 + i],
                    max_tokens=8,
                    params=SamplingParams(temperature=0.0),
                    stop=[],
                    loop=loop,
                )
                for i in range(2)
            ]
            order: list[tuple[int, str]] = []

            async def read(index: int, job: Job) -> None:
                while True:
                    batch: list[Event] = await asyncio.wait_for(job.queue.get(), 60)
                    for event in batch:
                        if isinstance(event, Delta):
                            order.append((index, "token"))
                        elif isinstance(event, Done | Failed):
                            assert isinstance(event, Done), event
                            order.append((index, "done"))
                            return

            for job in jobs:
                worker.submit(job)
            await asyncio.gather(*(read(i, job) for i, job in enumerate(jobs)))
        first_done = order.index((0, "done"))
        second_starts = order.index((1, "token"))
        assert first_done < second_starts, order
    finally:
        await pool.close()
        worker.stop()
