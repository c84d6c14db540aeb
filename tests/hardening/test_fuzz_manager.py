"""schemathesis against the manager's OpenAPI, over a live manager that forwards to a live
inference server (both subprocesses on loopback) and talks to a fake Hub on loopback.

``INCLUDED_PATHS`` lists the path prefixes under test; ``("/",)`` takes every operation.
Fuzzed requests delete models, import folders, clean up storage and start downloads: the
manager and its inference server get their own copies of every folder they may change (models,
Hugging Face cache, data), never the shared ones.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.procs import Service, inference_service, manager_service
from modelyard_dev.tiny_model import install_in_cache
from tests.hardening.conftest import fuzz_env, manager_env
from tests.hardening.fuzzing import config, path_prefixes_regex, run

MAX_EXAMPLES = 10
INCLUDED_PATHS: tuple[str, ...] = ("/",)
OPERATIONS: list[dict[str, object]] = [
    # The stream of all downloads never ends (one job's ends with the job): each stream is read
    # up to its first event (the snapshot sent on connect), then closed.
    # tests/manager/downloads/test_sse.py follows them to the end.
    {"include-path-regex": "^/api/downloads/.*events$", "max-stream-events": 1},
]
# Ids may hold a '/' ({model_id:path}); schemathesis discards many of the values it draws.
SUPPRESSED_HEALTH_CHECKS = ("filter_too_much",)
# On the fake Hub: the example id of a download request (a tiny model stands in for it) and
# another tiny model; in the manager's own cache: a tiny model downloaded before.
HUB_MODELS = ("mlx-community/Qwen3-0.6B-4bit", "org/tiny")
CACHED_MODEL = "org/cached"
# Routes the manager forwards unchanged to the inference server (DESIGN: "the proxy streams
# bytes"): their bodies and answers are the inference server's.
FORWARDED = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/responses",
)


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    hub = FakeHub()
    for repo_id in HUB_MODELS:
        hub.add_tiny_model(repo_id)
    with hub.serve() as url:
        yield url


@pytest.fixture(scope="module")
def own_dirs(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Copies for this module only: a models folder and a Hugging Face cache with one model."""
    models = tmp_path_factory.mktemp("fuzz-models") / "models"
    shutil.copytree(models_dir, models, symlinks=True)
    hf_cache = tmp_path_factory.mktemp("fuzz-hf-cache")
    install_in_cache(hf_cache, CACHED_MODEL)
    return models, hf_cache


@pytest.fixture(scope="module")
def services(
    own_dirs: tuple[Path, Path], hub_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Service]]:
    """The manager and an inference server of its own, both reading ``own_dirs``."""
    models, hf_cache = own_dirs
    logs = tmp_path_factory.mktemp("fuzz-manager-logs")
    inference = inference_service(fuzz_env([models], hf_cache), log_dir=logs)
    manager = manager_service(
        {
            **manager_env(inference, tmp_path_factory.mktemp("fuzz-data"), models, hf_cache),
            "MODEL_MANAGER_HF_ENDPOINT": hub_url,
            "MODEL_MANAGER_DISK_RESERVE_GB": "0",
            "MODEL_MANAGER_DOWNLOAD_RETRIES": "1",
            "MODEL_MANAGER_DOWNLOAD_BACKOFF_S": "0.05",
            "MODEL_MANAGER_HUB_TIMEOUT_S": "5",
        },
        log_dir=logs,
    )
    inference.start()
    try:
        manager.start()
        try:
            yield manager, inference
        finally:
            manager.stop()
    finally:
        inference.stop()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def complete_forwarded(manager: dict[str, Any], inference: dict[str, Any]) -> dict[str, Any]:
    """The manager's spec, where a forwarded operation leaves out what the inference server
    declares (the request body, a media type of an answer, an error status it passes through),
    completed from the inference server's spec. What the manager declares itself is kept.
    """
    spec = copy.deepcopy(manager)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    upstream_schemas = inference.get("components", {}).get("schemas", {})
    borrowed: list[Any] = []
    for path in FORWARDED:
        for method, upstream in inference["paths"].get(path, {}).items():
            operation = spec["paths"].get(path, {}).get(method)
            if operation is None:
                continue
            if "requestBody" not in operation and "requestBody" in upstream:
                operation["requestBody"] = upstream["requestBody"]
                borrowed.append(upstream["requestBody"])
            responses = operation.setdefault("responses", {})
            for status, answer in upstream.get("responses", {}).items():
                mine = responses.setdefault(status, copy.deepcopy(answer))
                content = mine.setdefault("content", {})
                for media, body in answer.get("content", {}).items():
                    if media not in content or content[media].get("schema") in (None, {}):
                        content[media] = body
                borrowed.append(mine)
    pending = [name for node in borrowed for name in _refs(node)]
    while pending:
        name = pending.pop()
        if name not in schemas and name in upstream_schemas:
            schemas[name] = upstream_schemas[name]
            pending.extend(_refs(upstream_schemas[name]))
    return spec


@pytest.mark.slow
def test_manager_api(services: tuple[Service, Service], models_dir: Path) -> None:
    shared_before = sorted(p.relative_to(models_dir) for p in models_dir.rglob("*"))
    manager, inference = services
    manager_spec = httpx.get(f"{manager.url}/openapi.json").json()
    inference_spec = httpx.get(f"{inference.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(
        complete_forwarded(manager_spec, inference_spec),
        config=config(
            MAX_EXAMPLES,
            base_url=manager.url,
            operations=OPERATIONS,
            suppress_health_checks=SUPPRESSED_HEALTH_CHECKS,
        ),
    ).include(path_regex=path_prefixes_regex(INCLUDED_PATHS))
    report = run(schema)
    if report.failures or report.errors:
        pytest.fail(report.summary(), pytrace=False)
    expected = {
        f"{method.upper()} {path}"
        for path, operations in manager_spec["paths"].items()
        if path.startswith(INCLUDED_PATHS)
        for method in operations
    }
    assert expected and report.operations == expected
    assert report.cases >= len(expected) * MAX_EXAMPLES
    assert httpx.get(f"{manager.url}/health").status_code == 200
    # Whatever the fuzzed deletes, imports and clean-ups did, they did it to the copies.
    assert sorted(p.relative_to(models_dir) for p in models_dir.rglob("*")) == shared_before
