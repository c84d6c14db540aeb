"""``GET /api/system`` in-process (no inference server): the contract's shape and values."""

from __future__ import annotations

import shutil
from pathlib import Path

from shared_schemas.capabilities import package_version
from tests.manager.conftest import CLOSED_PORT_URL, AppClientFactory

CONTRACT_KEYS = {
    "version",
    "data_dir",
    "hf_cache_dir",
    "models_dir",
    "hf_endpoint",
    "auth_required",
    "bind_host",
    "disk",
    "local_models",
    "inference",
}


async def test_system_without_an_inference_server(
    app_client: AppClientFactory, tmp_path: Path
) -> None:
    async with app_client(api_token="tok", hf_endpoint="http://hub.test/") as (_app, client):
        answer = await client.get("/api/system", headers={"Authorization": "Bearer tok"})
        refused = await client.get("/api/system")
    assert refused.status_code == 401
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == CONTRACT_KEYS
    assert body["version"] == package_version("modelyard")
    assert body["data_dir"] == str((tmp_path / "data").resolve())
    assert body["hf_cache_dir"] == str((tmp_path / "hf-cache").resolve())
    assert body["models_dir"] == str((tmp_path / "models").resolve())
    assert body["hf_endpoint"] == "http://hub.test"
    assert body["auth_required"] is True
    assert body["bind_host"] == "127.0.0.1"
    assert body["disk"]["reserve_bytes"] == 2 * 2**30
    # The cache folder does not exist yet: the free space of the disk it will be on.
    assert 0 < body["disk"]["free_bytes"] <= shutil.disk_usage(tmp_path).total
    assert body["local_models"] == 0
    assert body["inference"] == {
        "url": CLOSED_PORT_URL,
        "reachable": False,
        "capabilities": None,
        "storage_agrees": None,
        "mismatches": [],
        "hosts": [
            {
                "url": CLOSED_PORT_URL,
                "up": False,
                "reachable": False,
                "error": "unreachable",
                "capabilities": None,
                "storage_agrees": None,
                "mismatches": [],
            }
        ],
    }


async def test_system_and_ready_are_documented(app_client: AppClientFactory) -> None:
    async with app_client() as (_app, client):
        spec = (await client.get("/openapi.json")).json()
    system = spec["paths"]["/api/system"]["get"]["responses"]["200"]["content"]
    assert system["application/json"]["schema"]["$ref"].endswith("/SystemInfo")
    schemas = spec["components"]["schemas"]
    assert set(schemas["SystemInfo"]["properties"]) == CONTRACT_KEYS
    assert set(schemas["InferenceInfo"]["properties"]) == {
        "url",
        "reachable",
        "capabilities",
        "storage_agrees",
        "mismatches",
        "hosts",
    }
    ready = spec["paths"]["/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)
    assert set(schemas["ReadyChecks"]["properties"]) == {"database", "inference", "storage"}
