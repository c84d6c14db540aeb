"""``POST /api/downloads`` of a model that would not run here: 409, or a forced job that says
so; what cannot be loaded stays out of ``/v1/models`` and is shown in ``/api/models/local``."""

from __future__ import annotations

from typing import Any

from modelyard_dev.fake_hub import FakeHub
from modelyard_dev.tiny_model import TINY as TINY_SHAPE
from modelyard_dev.tiny_model import model_files
from tests.manager.downloads.conftest import TINY, Manager, ManagerFactory


def _add_unservable(hub: FakeHub) -> dict[str, str]:
    """A repo with only ``pytorch_model.bin`` weights and a GGUF-only repo, each with a
    config and tokenizer otherwise as good as the tiny model's."""
    files = model_files(TINY_SHAPE)
    config_and_tokenizer = {k: v for k, v in files.items() if k != "model.safetensors"}
    hub.add_repo(
        "bad/pytorch-only",
        {**config_and_tokenizer, "pytorch_model.bin": b"\x80\x02pickled weights"},
    )
    hub.add_repo("bad/gguf-only", {"README.md": b"# q\n", "tiny-Q4_K_M.gguf": b"GGUF" * 256})
    return {"bad/pytorch-only": "unsafe_format", "bad/gguf-only": "unsupported_format"}


async def _listed(m: Manager) -> tuple[dict[str, Any], list[str]]:
    local = (await m.client.get("/api/models/local")).json()["data"]
    served = [c["id"] for c in (await m.client.get("/v1/models")).json()["data"]]
    return {e["id"]: e for e in local}, served


async def test_download_of_a_model_that_cannot_run_is_refused(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """A download whose compatibility verdict is not ``runs`` is refused with 409
    ``model_not_servable``, the verdict and its reasons, and how to go on; no job is made
    and nothing is written.

    Reproduction: ``POST /api/downloads {"model_id": <a repo with only pytorch_model.bin>}``
    "completed" with config and tokenizer and no weights, and a GGUF-only repo was listed in
    ``/v1/models`` as ``type: "chat"``; both failed only when someone chatted.
    """
    expected = _add_unservable(hub)
    async with run_manager() as m:
        for model_id, reason in expected.items():
            response = await m.client.post("/api/downloads", json={"model_id": model_id})
            assert response.status_code == 409, response.text
            error = response.json()["error"]
            assert error["code"] == "model_not_servable"
            assert model_id in error["message"]
            assert error["details"]["verdict"] == "not-loadable"
            assert error["details"]["compatible"] is False
            reasons = {r["code"]: r["severity"] for r in error["details"]["reasons"]}
            assert reasons[reason] == "blocker"
            assert any('"force": true' in step for step in error["resolution_steps"])
            assert any("/api/models/compatibility/" in s for s in error["resolution_steps"])
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
        assert not list(m.settings.hub_cache.glob("models--bad--*"))
        # A model that runs is not held back, and carries no warning.
        job = await m.start(TINY)
        assert job["warning"] is None
        assert (await m.wait(job["id"], "completed", "failed"))["status"] == "completed"


async def test_forced_download_records_the_warning(
    hub: FakeHub, run_manager: ManagerFactory
) -> None:
    """``"force": true`` downloads it anyway; the job carries the verdict as its warning,
    through the job's answers and after a restart. The model is then listed in
    ``/api/models/local`` with its verdict, never in ``/v1/models``."""
    expected = _add_unservable(hub)
    async with run_manager() as m:
        jobs = {}
        for model_id, reason in expected.items():
            job = await m.start(model_id, force=True)
            assert job["warning"]["code"] == "model_not_servable"
            assert reason in {r["code"] for r in job["warning"]["details"]["reasons"]}
            done = await m.wait(job["id"], "completed", "failed")
            assert done["status"] == "completed", done["error"]
            assert done["warning"] == job["warning"]
            jobs[model_id] = job
        local, served = await _listed(m)
        assert served == []  # the inference server is down and neither model can load
        for model_id in expected:
            assert local[model_id]["compatibility"]["label"] == "not-loadable"
            assert (await m.client.get(f"/v1/models/{model_id}")).status_code == 404
    async with run_manager() as again:  # the warning is kept with the job
        for model_id, job in jobs.items():
            kept = await again.job(job["id"])
            assert kept["warning"] == job["warning"], model_id
        history = (await again.client.get("/api/downloads")).json()["downloads"]
        assert {j["model_id"]: j["warning"] is not None for j in history} == dict.fromkeys(
            expected, True
        )


async def test_force_must_be_a_boolean(run_manager: ManagerFactory) -> None:
    """``force`` is JSON ``true`` or ``false``; ``0``, ``"yes"`` or ``null`` are refused, not
    read as a choice the client did not spell out."""
    async with run_manager() as m:
        for value in (0, 1, "yes", "true", None):
            body = {"model_id": TINY, "force": value}
            response = await m.client.post("/api/downloads", json=body)
            assert response.status_code == 400, (value, response.text)
            assert response.json()["error"]["param"] == "force", value
        assert (await m.client.get("/api/downloads")).json()["total"] == 0
