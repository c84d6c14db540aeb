"""schemathesis against the manager's OpenAPI, over a live manager that forwards to a live
inference server (both subprocesses on loopback).

``INCLUDED_PATHS`` lists the path prefixes under test; ``("/",)`` takes every operation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from modelyard_dev.procs import Service, manager_service
from tests.hardening.conftest import manager_env
from tests.hardening.fuzzing import config, path_prefixes_regex, run

MAX_EXAMPLES = 10
INCLUDED_PATHS: tuple[str, ...] = (
    "/health",
    "/ready",
    "/metrics",
    "/v1/chat/completions",
    "/v1/completions",
)
# Routes the manager forwards unchanged to the inference server (DESIGN: "the proxy streams
# bytes"): their bodies and answers are the inference server's.
FORWARDED = ("/v1/chat/completions", "/v1/completions")


@pytest.fixture(scope="module")
def manager(
    inference: Service, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    service = manager_service(
        manager_env(
            inference,
            tmp_path_factory.mktemp("manager-data"),
            models_dir,
            tmp_path_factory.mktemp("manager-hf"),
        ),
        log_dir=tmp_path_factory.mktemp("manager-logs"),
    )
    service.start()
    yield service
    service.stop()


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
def test_manager_api(manager: Service, inference: Service) -> None:
    manager_spec = httpx.get(f"{manager.url}/openapi.json").json()
    inference_spec = httpx.get(f"{inference.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(
        complete_forwarded(manager_spec, inference_spec),
        config=config(MAX_EXAMPLES, base_url=manager.url),
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
