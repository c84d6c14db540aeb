"""Library fixtures: a cache, a models dir and a folder outside both; models placed by hand;
the manager app in-process."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from manager.app import create_app
from manager.settings import ManagerSettings
from modelyard_dev.tiny_model import TINY, install_files_in_cache, model_files

CLOSED_PORT_URL = "http://127.0.0.1:9"


@dataclass
class Dirs:
    cache: Path
    models: Path
    data: Path
    outside: Path


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    found = Dirs(
        cache=tmp_path / "hf-cache",
        models=tmp_path / "models",
        data=tmp_path / "data",
        outside=tmp_path / "outside",
    )
    for path in (found.cache, found.models, found.outside):
        path.mkdir()
    return found


@functools.lru_cache(maxsize=4)
def _base_files(seed: int) -> Mapping[str, bytes]:
    return model_files(TINY, seed)


def tiny_files(seed: int = 0, **config: Any) -> dict[str, bytes]:
    """The tiny model's files; keyword arguments change config.json (None removes a key)."""
    files = dict(_base_files(seed))
    if config:
        data = json.loads(files["config.json"])
        for key, value in config.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        files["config.json"] = json.dumps(data).encode()
    return files


def place_in_cache(cache: Path, repo_id: str, files: Mapping[str, bytes] | None = None) -> Path:
    """The standard layout (blobs, snapshot symlinks, refs/main); returns the snapshot."""
    return install_files_in_cache(cache, repo_id, files or tiny_files())


def place_by_hand(
    cache: Path, repo_id: str, files: Mapping[str, bytes] | None = None, *, ref: bool = True
) -> Path:
    """``models--org--name/snapshots/<sha>/`` with plain files, and ``refs/main``."""
    files = files or tiny_files()
    sha = hashlib.sha1(repr(sorted(files)).encode() + repo_id.encode()).hexdigest()
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(sha)
    return snapshot


def place_folder(root: Path, name: str, files: Mapping[str, bytes] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for rel, data in (files or tiny_files()).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def write_gguf(
    path: Path,
    *,
    arch: str = "llama",
    context: int = 4096,
    file_type: int = 15,
    tensors: int = 2,
) -> Path:
    """A small valid GGUF file: llama.cpp metadata keys and ``tensors`` 8x16 tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("Tiny GGUF")
    writer.add_context_length(context)
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_file_type(file_type)
    writer.add_token_list([b"<s>", b"</s>", b"a", b"b"])
    for index in range(tensors):
        writer.add_tensor(f"blk.{index}.weight", np.zeros((8, 16), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tree_snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file contents, or link targets."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
            else:
                out[rel] = "dir"
    return out


AppFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def make_settings(dirs: Dirs) -> Callable[..., ManagerSettings]:
    def build(**overrides: Any) -> ManagerSettings:
        values: dict[str, Any] = {
            "data_dir": dirs.data,
            "hf_cache_dir": dirs.cache,
            "models_dir": dirs.models,
            "inference_url": CLOSED_PORT_URL,
            "catalog_pool_timeout_s": 1.0,
            "cleanup_grace_s": 60.0,
        }
        values.update(overrides)
        return ManagerSettings(**values)

    return build


@pytest.fixture
def open_app(make_settings: Callable[..., ManagerSettings]) -> AppFactory:
    """``async with open_app(**settings) as (app, client)``: lifespan run, ASGI transport."""

    @asynccontextmanager
    async def open_(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(make_settings(**overrides))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://localhost"
            ) as client:
                yield app, client

    return open_
