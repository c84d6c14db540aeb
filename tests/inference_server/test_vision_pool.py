"""Vision-language models in the pool (in-process, real MLX worker), and remote images."""

from __future__ import annotations

import asyncio
import http.server
import io
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from inference_server.errors import BadRequestError
from inference_server.pool.kinds import ModelKind
from inference_server.pool.pool import ModelPool
from inference_server.runtime.events import Delta, Done, Failed, Job
from inference_server.runtime.sampling import SamplingParams
from inference_server.runtime.worker import MLXWorker
from inference_server.vision.images import ImageLimits, load_images
from modelyard_dev.tiny_model import TINY, write_model
from modelyard_dev.tiny_multimodal import vision_files, write_files
from shared_schemas.content import ImageURL

GB = 2**30
VISION, CHAT = "local/vl", "local/chat"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pool-vision-models")
    write_files(path / "vl", vision_files())
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


async def generate(worker: MLXWorker, model_id: str, prompt: list[int]) -> list[object]:
    job = Job(
        model_id=model_id,
        prompt=prompt,
        max_tokens=4,
        params=SamplingParams(temperature=0.0),
        stop=[],
        loop=asyncio.get_running_loop(),
    )
    worker.submit(job)
    events: list[object] = []
    while not any(isinstance(e, Done | Failed) for e in events):
        events += await asyncio.wait_for(job.queue.get(), 60)
    return events


async def test_vision_model_loads_generates_evicts_and_reloads(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    pool = make_pool(worker, root, tmp_path, max_models=1)
    assert await pool.kind_of(VISION) == ModelKind.VISION
    slot = await pool.ensure_ready(VISION)
    assert slot.runtime.multimodal and pool.status().slots[0].kind == "vision"
    events = await generate(worker, VISION, [1, 40, 41, 42])
    assert isinstance(events[-1], Done) and any(isinstance(e, Delta) for e in events)
    await pool.ensure_ready(CHAT)  # one model at most: the vision model is evicted
    assert [s.id for s in pool.status().slots] == [CHAT]
    assert pool.status().total_evictions == 1
    events = await generate(worker, VISION, [1, 40])
    assert isinstance(events[-1], Failed)  # unloaded from the worker too
    slot = await pool.ensure_ready(VISION)
    assert slot.load_count == 2
    await pool.close()


async def test_idle_ttl_unloads_a_vision_model_and_frees_its_memory(
    worker: MLXWorker, root: Path, tmp_path: Path
) -> None:
    import mlx.core as mx

    pool = make_pool(worker, root, tmp_path, idle_ttl_s=0.2)
    before = await worker.call(mx.get_active_memory)
    await pool.ensure_ready(VISION)
    loaded = await worker.call(mx.get_active_memory)
    assert loaded > before
    await asyncio.sleep(0.3)
    assert await pool.reap_idle() == [VISION]
    after = await worker.call(mx.get_active_memory)
    assert after <= before + (loaded - before) // 10


# ---- remote images --------------------------------------------------------------------------


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow.png":
            time.sleep(1.0)
        if self.path == "/missing.png":
            self.send_response(404)
            self.end_headers()
            return
        body = _png() if self.path != "/big.png" else _png() + b"\0" * 5000
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LIMITS = ImageLimits(
    max_pixels=10_000, allow_remote=True, remote_max_bytes=4000, remote_timeout_s=0.5
)


async def test_remote_image_fetched_when_allowed(image_server: str) -> None:
    (image,) = await load_images([ImageURL(url=f"{image_server}/cat.png")], LIMITS)
    assert image.size == (30, 20) and image.mode == "RGB"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/big.png", "image_too_large"),
        ("/slow.png", "image_fetch_failed"),
        ("/missing.png", "image_fetch_failed"),
    ],
)
async def test_remote_image_limits(image_server: str, path: str, code: str) -> None:
    with pytest.raises(BadRequestError) as info:
        await load_images([ImageURL(url=f"{image_server}{path}")], LIMITS)
    assert info.value.code == code
