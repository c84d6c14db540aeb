"""The fake Hub on loopback with the fixture repos, and managers pointed at it (in process)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from manager.app import create_app
from manager.settings import ManagerSettings
from modelyard_dev.fake_hub import FakeHub, FakeRepo

TOKEN = "hf_valid_test_token"

LLAMA_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}
VLM_CONFIG: dict[str, Any] = {
    "architectures": ["Qwen2VLForConditionalGeneration"],
    "model_type": "qwen2_vl",
    "hidden_size": 1536,
    "num_hidden_layers": 28,
    "vocab_size": 151936,
    "image_token_id": 151655,
    "vision_config": {"depth": 32},
    "text_config": {"max_position_embeddings": 32768},
}
README = b"""---
license: apache-2.0
---

# Base-7B

Base-7B is a dense decoder-only language model trained on a large and varied corpus.

## Usage
"""


def js(value: object) -> bytes:
    return json.dumps(value).encode()


def quantized_of(base: str) -> dict[str, Any]:
    return {"base_model": base, "base_model_relation": "quantized"}


class CaseInsensitiveRepos(dict[str, FakeRepo]):
    """Repo lookup the way the Hub does it: any case finds the repo, which keeps its own."""

    def get(self, key: str, default: Any = None) -> Any:
        found = super().get(key)
        if found is not None:
            return found
        lowered = key.lower()
        return next((r for k, r in self.items() if k.lower() == lowered), default)


def build_hub() -> FakeHub:
    hub = FakeHub(valid_tokens={TOKEN})
    hub.repos = CaseInsensitiveRepos()
    hub.add_repo(
        "Acme/Base-7B",
        {
            "README.md": README,
            "config.json": js(LLAMA_CONFIG),
            "model-00001-of-00002.safetensors": b"a" * 3000,
            "model-00002-of-00002.safetensors": b"b" * 2000,
            "tokenizer.json": b"{}",
        },
        library_name="transformers",
        pipeline_tag="text-generation",
        downloads=500,
        likes=40,
    )
    hub.add_repo(
        "Acme/Vision-2B",
        {"config.json": js(VLM_CONFIG), "model.safetensors": b"v" * 1500},
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        downloads=200,
        likes=90,
    )
    mlx_4bit = LLAMA_CONFIG | {"quantization": {"bits": 4, "group_size": 64}}
    hub.add_repo(
        "mlx-community/Base-7B-4bit",
        {"config.json": js(mlx_4bit), "model.safetensors": b"q" * 1200, "README.md": b"# x"},
        library_name="mlx",
        tags=["mlx"],
        card_data=quantized_of("Acme/Base-7B"),
        downloads=300,
        likes=5,
    )
    hub.add_repo(
        "mlx-community/Base-7B-8bit",
        {
            "config.json": js(LLAMA_CONFIG | {"quantization": {"bits": 8, "group_size": 64}}),
            "model.safetensors": b"q" * 2200,
        },
        library_name="mlx",
        tags=["mlx"],
        card_data=quantized_of("Acme/Base-7B"),
        downloads=100,
    )
    hub.add_repo(  # declares the base in the wrong case: the Hub does not link it
        "someone/Base-7B-4bit-mlx",
        {"config.json": js(mlx_4bit), "model.safetensors": b"q" * 1200},
        library_name="mlx",
        tags=["mlx"],
        card_data=quantized_of("acme/base-7b"),
        downloads=999,
    )
    hub.add_repo(
        "quants/Base-7B-GGUF",
        {
            "Base-7B-Q4_K_M.gguf": b"g" * 1800,
            "Q8_0/Base-7B-Q8_0-00001-of-00002.gguf": b"h" * 2000,
            "Q8_0/Base-7B-Q8_0-00002-of-00002.gguf": b"h" * 1700,
            "mmproj-Base-7B-f16.gguf": b"p" * 100,
            "README.md": b"# quants",
        },
        card_data=quantized_of("Acme/Base-7B"),
        downloads=400,
    )
    hub.add_repo(
        "other/Base-7B-GGUF",
        {"base-7b.q4_k_m.gguf": b"g" * 1790},
        card_data=quantized_of("Acme/Base-7B"),
        downloads=50,
    )
    hub.add_repo(
        "Acme/Gated-1B",
        {"config.json": js(LLAMA_CONFIG), "model.safetensors": b"s" * 100},
        gated="manual",
        library_name="transformers",
        card_data={"license": "other", "license_name": "acme-licence"},
    )
    hub.add_repo(
        "Acme/Pickle-1B",
        {"config.json": js(LLAMA_CONFIG), "pytorch_model.bin": b"p" * 300},
        library_name="transformers",
    )
    hub.add_repo("Lonely/Solo-3B", {"config.json": js(LLAMA_CONFIG)}, downloads=10)
    hub.add_repo(
        "fans/Solo-3B-4bit",
        {"config.json": js(mlx_4bit), "model.safetensors": b"s" * 600},
        library_name="mlx",
        tags=["mlx"],
        downloads=3,
    )
    for i in range(25):
        hub.add_repo(
            f"pager/p-{i:02d}",
            {"config.json": js(LLAMA_CONFIG)},
            downloads=1000 + i,
            likes=25 - i,
        )
    return hub


@pytest.fixture(scope="session")
def fake_hub() -> Iterator[tuple[FakeHub, str]]:
    hub = build_hub()
    with hub.serve() as url:
        yield hub, url


@pytest.fixture
def hub(fake_hub: tuple[FakeHub, str]) -> Iterator[FakeHub]:
    """The shared fake Hub, with its statistics and faults cleared around each test."""
    fake, _ = fake_hub
    fake.reset_faults()
    fake.reset_stats()
    yield fake
    fake.reset_faults()


@pytest.fixture
def hub_url(fake_hub: tuple[FakeHub, str]) -> str:
    return fake_hub[1]


@dataclass
class Manager:
    app: FastAPI
    client: httpx.AsyncClient
    settings: ManagerSettings
    baseline: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    def _samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.app.state.metrics.registry.collect()
            for sample in family.samples
        }

    def fresh(self) -> Manager:
        """This manager with an empty Hub cache, its metrics counted from now."""
        self.app.state.hub.cache.clear()
        self.baseline = self._samples()
        return self

    def metric(self, name: str, **labels: str) -> float:
        """A metric's value, less what it was when ``fresh()`` was called."""
        key = (name, frozenset(labels.items()))
        return self._samples().get(key, 0.0) - self.baseline.get(key, 0.0)


MakeManager = Callable[..., Awaitable[Manager]]


async def _start(stack: contextlib.AsyncExitStack, **values: Any) -> Manager:
    settings = ManagerSettings(**values)
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    )
    return Manager(app, client, settings)


def _defaults(root: Path, hub_url: str) -> dict[str, Any]:
    return {
        "hf_endpoint": hub_url,
        "data_dir": root / "data",
        "hf_cache_dir": root / "hf-cache",
        "models_dir": root / "models",
    }


@pytest_asyncio.fixture(loop_scope="module")
async def make_manager(tmp_path: Path, hub_url: str) -> AsyncIterator[MakeManager]:
    """Build managers (running their lifespan) with settings overrides; closed at the end."""
    counter = itertools.count()
    async with contextlib.AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Manager:
            values = _defaults(tmp_path / f"manager-{next(counter)}", hub_url)
            values.update(overrides)
            return await _start(stack, **values)

        yield make


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_manager(
    tmp_path_factory: pytest.TempPathFactory, fake_hub: tuple[FakeHub, str]
) -> AsyncIterator[Manager]:
    """One manager per test module with default settings (starting one costs ~0.1 s)."""
    async with contextlib.AsyncExitStack() as stack:
        root = tmp_path_factory.mktemp("manager")
        yield await _start(stack, **_defaults(root, fake_hub[1]))


@pytest_asyncio.fixture(loop_scope="module")
async def manager(shared_manager: Manager, hub: FakeHub) -> Manager:
    """The module's manager, its Hub cache emptied and its metrics counted from now."""
    return shared_manager.fresh()
