"""The manager and the inference server agree about where models live, or say loudly that
they do not: real processes, real folders, real tiny models.

Reproduction of the bug (before ``MODELYARD_HOME`` and ``/admin/capabilities``): set
``MODEL_MANAGER_DATA_DIR`` or ``MODEL_MANAGER_HF_CACHE_DIR`` alone. The manager lists the
models it finds there in ``/v1/models`` as ``not-loaded`` (ready to use) and ``/ready`` says
ready, but the inference server reads other folders and answers 404 for them, with advice to
download them again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelyard_dev.procs import Service, free_port, inference_service, manager_service
from modelyard_dev.tiny_model import install_files_in_cache

HUB_MODEL = "org/tiny-hub"
LOCAL_MODEL = "local/tiny-a"


@dataclass(frozen=True)
class Layout:
    root: Path
    home: Path  # MODELYARD_HOME for both processes
    hub: Path  # HF_HUB_CACHE for both processes
    own_data: Path  # MODEL_MANAGER_DATA_DIR alone
    own_hub: Path  # MODEL_MANAGER_HF_CACHE_DIR alone

    def shared_env(self) -> dict[str, str]:
        return {"MODELYARD_HOME": str(self.home), "HF_HUB_CACHE": str(self.hub)}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def layout(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Layout:
    root = tmp_path_factory.mktemp("storage")
    found = Layout(root, root / "yard", root / "hub", root / "own-data", root / "own-hub")
    tiny = _files(models_dir / "tiny-a")
    shutil.copytree(models_dir / "tiny-a", found.home / "models" / "tiny-a")
    install_files_in_cache(found.hub, HUB_MODEL, tiny)
    shutil.copytree(models_dir / "tiny-a", found.own_data / "models" / "tiny-own")
    install_files_in_cache(found.own_hub, "org/tiny-own-hub", tiny)
    return found


@pytest.fixture(scope="module")
def shared_inference(layout: Layout) -> Iterator[Service]:
    """An inference server configured only by the shared settings."""
    service = inference_service(
        {**layout.shared_env(), "MLX_SERVER_MAX_TOKENS_CAP": "4"}, log_dir=layout.root
    )
    service.start()
    yield service
    service.stop()


def _manager(layout: Layout, inference_url: str, **env: str) -> Service:
    return manager_service(
        {
            **layout.shared_env(),
            "MODEL_MANAGER_INFERENCE_URL": inference_url,
            "MODEL_MANAGER_INFERENCE_CHECK_INTERVAL_S": "0.2",
            "MODEL_MANAGER_PROXY_RETRY_WAIT_S": "0.05",
            "MODEL_MANAGER_CATALOG_POOL_RETRY_S": "0",
            **env,
        },
        log_dir=layout.root,
    )


@pytest.fixture
def running_manager() -> Iterator[list[Service]]:
    """Services a test starts; stopped (by PID) at the end, whatever happened."""
    started: list[Service] = []
    yield started
    for service in reversed(started):
        service.stop()


def _states(client: httpx.Client) -> dict[str, str]:
    answer = client.get("/v1/models")
    assert answer.status_code == 200, answer.text
    return {card["id"]: card["state"] for card in answer.json()["data"]}


def _chat(client: httpx.Client, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    return client.post("/v1/chat/completions", json=body)


def _warnings(service: Service) -> list[str]:
    lines = [
        json.loads(line) for line in service.log_path.read_text().splitlines() if line[:1] == "{"
    ]
    return [entry["msg"] for entry in lines if entry.get("level") == "warning"]


def test_shared_settings_make_both_processes_agree(
    layout: Layout, shared_inference: Service, running_manager: list[Service]
) -> None:
    manager = _manager(layout, shared_inference.url)
    running_manager.append(manager.start())
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        ready = client.get("/ready")
        system = client.get("/api/system").json()
        states = _states(client)
        local, hub = _chat(client, LOCAL_MODEL), _chat(client, HUB_MODEL)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True, "message": None},
            "inference": {"ok": True, "message": None},
            "storage": {"ok": True, "message": None},
        },
        "hosts": [{"url": shared_inference.url, "ok": True, "message": None}],
    }
    assert system["data_dir"] == str(layout.home.resolve())
    assert system["models_dir"] == str((layout.home / "models").resolve())
    assert system["hf_cache_dir"] == str(layout.hub.resolve())
    assert system["local_models"] == 2
    inference = system["inference"]
    assert inference["reachable"] is True
    assert inference["storage_agrees"] is True and inference["mismatches"] == []
    assert inference["capabilities"]["models_dirs"] == [system["models_dir"]]
    assert states == {LOCAL_MODEL: "not-loaded", HUB_MODEL: "not-loaded"}
    # What the manager lists, the inference server serves.
    assert local.status_code == 200, local.text
    assert hub.status_code == 200, hub.text
    assert not [w for w in _warnings(manager) if "storage mismatch" in w]


def test_manager_only_folders_are_reported_not_listed_as_usable(
    layout: Layout, shared_inference: Service, running_manager: list[Service]
) -> None:
    """The reproduction in the module docstring: the manager alone points elsewhere."""
    manager = _manager(
        layout,
        shared_inference.url,
        MODEL_MANAGER_DATA_DIR=str(layout.own_data),
        MODEL_MANAGER_HF_CACHE_DIR=str(layout.own_hub),
    )
    running_manager.append(manager.start())
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        states = _states(client)
        ready = client.get("/ready")
        system = client.get("/api/system").json()
        refused = _chat(client, "local/tiny-own")
    # Before: both "not-loaded", /ready 200, and the chat below a surprise. (The models the
    # inference server has loaded from its own folders are listed too, as loaded.)
    assert states["org/tiny-own-hub"] == "not_visible_to_inference"
    assert states["local/tiny-own"] == "not_visible_to_inference"
    assert refused.status_code == 404
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["inference"]["ok"]
    assert checks["storage"]["ok"] is False
    message = checks["storage"]["message"]
    for folder in (layout.own_hub, layout.hub, layout.own_data / "models", layout.home):
        assert str(folder.resolve()) in message
    assert "MODELYARD_HOME" in message
    inference = system["inference"]
    assert inference["reachable"] is True and inference["storage_agrees"] is False
    assert len(inference["mismatches"]) == 2
    warnings = [w for w in _warnings(manager) if "storage mismatch" in w]
    assert len(warnings) == 1, _warnings(manager)
    assert str(layout.own_hub.resolve()) in warnings[0]


def test_a_model_the_inference_server_cannot_see_is_not_advised_for_download(
    layout: Layout, shared_inference: Service, running_manager: list[Service]
) -> None:
    """Reproduction: with the manager alone on its own folders, chat with a model it lists as
    ``not_visible_to_inference`` (or load it through the manager). The 404 was the inference
    server's ``model_not_found`` with "Download it with the manager (POST /api/downloads)",
    though the model is downloaded: the two processes read different folders."""
    manager = _manager(
        layout,
        shared_inference.url,
        MODEL_MANAGER_DATA_DIR=str(layout.own_data),
        MODEL_MANAGER_HF_CACHE_DIR=str(layout.own_hub),
    )
    running_manager.append(manager.start())
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        assert client.get("/ready").status_code == 503  # the mismatch is known
        answers = {
            "chat": _chat(client, "local/tiny-own"),
            "stream": client.post(
                "/v1/chat/completions",
                json={
                    "model": "org/tiny-own-hub",
                    "messages": [{"role": "user", "content": "hi"}],
                    "stream": True,
                },
            ),
            "completion": client.post(
                "/v1/completions", json={"model": "org/tiny-own-hub", "prompt": "hi"}
            ),
            "load": client.post("/api/inference/models/local/tiny-own/load"),
        }
        elsewhere = _chat(client, "org/absent")
    for name, answer in answers.items():
        assert answer.status_code == 404, (name, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "model_not_visible_to_inference", (name, error)
        assert (error["src"], error["param"]) == ("manager", "model")
        advice = " ".join([error["message"], *error["resolution_steps"]])
        assert "download" not in advice.lower(), (name, advice)
        assert "MODELYARD_HOME" in advice and "HF_HUB_CACHE" in advice
    hub_message = answers["stream"].json()["error"]["message"]
    assert str(layout.own_hub.resolve()) in hub_message and str(layout.hub) in hub_message
    local_message = answers["chat"].json()["error"]["message"]
    assert str((layout.own_data / "models").resolve()) in local_message
    # A model on neither disk is still the inference server's own 404, passed on unchanged.
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["code"] == "model_not_found"
    assert elsewhere.json()["error"]["src"] == "inference_server"


def test_capabilities_are_refreshed_when_the_server_comes_back(
    layout: Layout, tmp_path: Path, running_manager: list[Service]
) -> None:
    """Start the manager first; then an inference server that reads another models folder;
    then, on the same port, one configured like the manager."""
    port = free_port()
    manager = _manager(layout, f"http://127.0.0.1:{port}")
    running_manager.append(manager.start())
    with httpx.Client(base_url=manager.url, timeout=60) as client:
        alone = client.get("/api/system").json()["inference"]
        assert {k: v for k, v in alone.items() if k != "hosts"} == {
            "url": f"http://127.0.0.1:{port}",
            "reachable": False,
            "capabilities": None,
            "storage_agrees": None,
            "mismatches": [],
        }
        assert [(h["url"], h["reachable"]) for h in alone["hosts"]] == [(alone["url"], False)]
        ready = client.get("/ready").json()["checks"]
        assert ready["inference"]["ok"] is False and ready["storage"]["ok"] is False
        assert ready["storage"]["message"].startswith("not checked")
        assert _states(client)[LOCAL_MODEL] == "unknown"
        verdict = client.get(f"/api/models/compatibility/{LOCAL_MODEL}").json()
        assert "architecture_unknown" in {r["code"] for r in verdict["reasons"]}

        elsewhere = inference_service(
            {**layout.shared_env(), "MLX_SERVER_MODELS_DIRS": str(tmp_path)},
            port=port,
            log_dir=layout.root,
        )
        running_manager.append(elsewhere.start())
        seen = client.get("/api/system").json()["inference"]
        assert seen["reachable"] is True and seen["storage_agrees"] is False
        assert seen["capabilities"]["models_dirs"] == [str(tmp_path.resolve())]
        assert _states(client) == {LOCAL_MODEL: "not_visible_to_inference", HUB_MODEL: "not-loaded"}
        verdict = client.get(f"/api/models/compatibility/{LOCAL_MODEL}").json()
        assert verdict["requirements"]["architecture_supported"] is True
        assert not {"architecture_unknown", "architecture_last_known"} & {
            r["code"] for r in verdict["reasons"]
        }

        elsewhere.stop()
        gone = client.get("/api/system").json()["inference"]
        assert gone["reachable"] is False
        assert gone["capabilities"] is not None and gone["storage_agrees"] is False  # last known
        verdict = client.get(f"/api/models/compatibility/{LOCAL_MODEL}").json()
        assert "architecture_last_known" in {r["code"] for r in verdict["reasons"]}

        same = inference_service(layout.shared_env(), port=port, log_dir=layout.root)
        running_manager.append(same.start())
        back = client.get("/api/system").json()["inference"]
        assert back["reachable"] is True and back["storage_agrees"] is True
        assert back["capabilities"]["models_dirs"] == [str((layout.home / "models").resolve())]
        assert client.get("/ready").status_code == 200
        assert _states(client) == {LOCAL_MODEL: "not-loaded", HUB_MODEL: "not-loaded"}
    log = manager.log_path.read_text()
    assert log.count("storage mismatch") == 1
    assert "storage agrees with the inference server" in log
    assert "became unreachable" in log
